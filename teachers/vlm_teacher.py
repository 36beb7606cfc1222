"""Any instruction-tuned vision-language model as a teacher, scored Q-Align style.

``vlm:PATH_OR_ID`` loads a local model folder or a cached Hugging Face hub id
and scores a clip zero-shot: the expectation of the five level words'
probabilities, weighted 5..1, after the question "How would you rate the
quality of this video?" (see :mod:`students.vlm` for the details, shared with the
VLM student backbone).
"""

from __future__ import annotations

from students.vlm import (
    LEVELS,
    PREFILL,
    PROMPTS,
    WEIGHTS,
    VisionLanguageModel,
    level_token_ids,
)
from teachers.base import TeacherBase
from w2s.core.clip import Clip

__all__ = ["LEVELS", "PREFILL", "PROMPTS", "WEIGHTS", "VLMTeacher", "level_token_ids"]


class VLMTeacher(VisionLanguageModel, TeacherBase):
    """``vlm:PATH_OR_ID`` — a vision-language model asked to rate the clip zero-shot, Q-Align style."""

    def score(self, clip: Clip) -> float:
        return self.forward(clip).score
