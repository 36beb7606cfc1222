"""A frozen vision-language model as a student's perception backbone.

``vlm:PATH_OR_ID`` (any transformers image-text-to-text model: Qwen2-VL,
Qwen2.5-VL, LLaVA-OneVision, ...). One forward pass over a clip, with the
rating question of :mod:`students.vlm`, gives both halves of the student:

- the **base score**: Q-Align's expectation over the level words (1..5);
- the **features** the calibration branch reads: the last layer's hidden
  state at the final position (where the model is about to name the level:
  it has attended to everything) and the mean of the last layer over the
  visual tokens (what the model saw, before the question narrows it down);
  ``2 * hidden_size`` values.

The student's score is ``base + residual(features)``: the branch learns a
correction to the model's own judgement, so a round-0 student starts from the
zero-shot VLM rather than from nothing. Weights never change.
"""

from __future__ import annotations

import torch

from students.base import BackboneBase
from students.vlm import VisionLanguageModel
from w2s.core.clip import Clip


class VLMBackbone(VisionLanguageModel, BackboneBase):
    """``vlm:PATH_OR_ID`` — a frozen vision-language model: last token + visual-token mean; its level-word score is the base."""

    def __init__(self, model: str, **options):
        super().__init__(model, **options)
        self.dim = 2 * self.hidden_size

    def to(self, device) -> VLMBackbone:
        """Move to ``device``; the dtype stays as loaded (``auto``: bf16/fp16 on a GPU)."""
        self.device = str(device)
        self.model.to(device)
        return self

    def embed_with_base(self, clip: Clip) -> tuple[torch.Tensor, float]:
        out = self.forward(clip, features=True)
        return torch.cat([out.last_token, out.visual_mean]), out.score

    def embed(self, clip: Clip) -> torch.Tensor:
        return self.embed_with_base(clip)[0]
