"""The Q-CLIP calibration branch: five learnable quality-level prompts and a small shared adapter.

Q-CLIP (Mi et al., 2025) scores a video with a frozen CLIP: five quality-level
prompt embeddings, best first, are compared with the video's image embedding,
and the score is the expectation of the softmax over those similarities with
weights 5..1 (as Q-Align does with level words)::

    a(v, e) = n(v) + up(dropout(gelu(down(n(v)) + extra(e))))      shared adapter, n = L2 normalisation
    s_k     = logit_scale * cos(a(image, extras), a(prompt_k, 0))
    score   = sum_k softmax(s)_k * w_k,   w = (5, 4, 3, 2, 1)

Only the prompts and the adapter train; CLIP stays frozen. The prompts start
at the frozen text tower's embeddings of "a video of {excellent, good, fair,
poor, bad} quality" (:func:`students.clip_backbone.quality_prompt_init`) and
``logit_scale`` is CLIP's own (a buffer, not trained). The adapter is
*shared*: the same bottleneck MLP maps the image embedding and the prompt
embeddings, so both move in the joint space together; its up-projection
starts at zero, so an untrained branch is exactly zero-shot CLIP with the
level prompts.

One difference from the paper, so that features can be cached: Q-CLIP puts
its shared adapter inside the encoders' layers; here it sits on the joint
embedding space after the frozen towers, so the backbone runs once per item
and training is a few thousand parameters on cached vectors. Features appended
after CLIP's (``student.motion``, ``student.nss``, ``student.temporal``) are
standardised with training statistics and enter the image side's bottleneck
(``extra``); the prompts have none.
"""

from __future__ import annotations

import torch
from torch import nn

KIND = "quality_prompts"
LEVEL_WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)  # excellent .. bad


class QualityPromptHead(nn.Module):
    """Q-CLIP branch: learnable level prompts + shared residual adapter on CLIP embeddings; score = softmax expectation, 1..5."""

    prior = None  # the students.prior.TeacherPrior its score was trained on top of, if any
    blocks = None  # one backbone: no block scales (students.multi)

    def __init__(self, dim: int, embed_dim: int, hidden: int = 128, dropout: float = 0.1, logit_scale: float = 100.0,
                 prompts: torch.Tensor | None = None):
        super().__init__()
        if not 0 < embed_dim <= dim:
            raise ValueError(f"the CLIP embedding ({embed_dim} values) must lie within the {dim} features")
        if hidden < 1:
            raise ValueError(f"the shared adapter needs a bottleneck of at least 1, got student.hidden={hidden}")
        self.dim, self.embed_dim, self.hidden, self.dropout = dim, embed_dim, hidden, dropout
        self.extra_dim = dim - embed_dim
        # standardisation of the appended statistics only: CLIP's embedding is compared by angle, as is
        self.register_buffer("feat_mean", torch.zeros(dim))
        self.register_buffer("feat_std", torch.ones(dim))
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))
        self.register_buffer("level_weights", torch.tensor(LEVEL_WEIGHTS))
        init = torch.zeros(len(LEVEL_WEIGHTS), embed_dim) if prompts is None else prompts.detach().float().clone()
        if init.shape != (len(LEVEL_WEIGHTS), embed_dim):
            raise ValueError(f"prompts must be ({len(LEVEL_WEIGHTS)}, {embed_dim}), got {tuple(init.shape)}")
        self.prompts = nn.Parameter(nn.functional.normalize(init, dim=-1) if prompts is not None else init)
        self.down = nn.Linear(embed_dim, hidden)
        self.up = nn.Linear(hidden, embed_dim)
        nn.init.zeros_(self.up.weight)  # an untrained adapter is the identity: zero-shot CLIP
        nn.init.zeros_(self.up.bias)
        self.extra = nn.Linear(self.extra_dim, hidden, bias=False) if self.extra_dim else None
        self.drop = nn.Dropout(dropout)

    @classmethod
    def for_clip(cls, model: str, dim: int, hidden: int = 128, dropout: float = 0.1) -> QualityPromptHead:
        """A new branch for features of ``clip:model`` (``dim`` values, CLIP's first), prompts from its text tower."""
        from students.clip_backbone import quality_prompt_init

        prompts, scale = quality_prompt_init(model)
        return cls(dim, prompts.shape[1], hidden=hidden, dropout=dropout, logit_scale=scale, prompts=prompts)

    def set_normalization(self, features: torch.Tensor) -> None:
        """Fit the standardisation of the appended statistics to the training items' features (N, dim)."""
        if not self.extra_dim:
            return
        extra = features[:, self.embed_dim :]
        self.feat_mean[self.embed_dim :] = extra.mean(dim=0)
        self.feat_std[self.embed_dim :] = extra.std(dim=0).clamp(min=1e-3 * extra.std().item() + 1e-8)

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feat_mean) / self.feat_std

    def adapt(self, v: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The shared adapter: normalised input plus a bottleneck residual, normalised again."""
        v = nn.functional.normalize(v, dim=-1)
        h = self.down(v)
        if extra is not None and self.extra is not None:
            h = h + self.extra(extra)
        return nn.functional.normalize(v + self.up(self.drop(nn.functional.gelu(h))), dim=-1)

    def level_logits(self, features: torch.Tensor, standardized: bool = False) -> torch.Tensor:
        """(N, 5) scaled cosine similarities with the prompts, excellent .. bad."""
        x = features if standardized else self.standardize(features)
        image = self.adapt(x[:, : self.embed_dim], x[:, self.embed_dim :] if self.extra_dim else None)
        return self.logit_scale * image @ self.adapt(self.prompts).T

    def forward(self, features: torch.Tensor, standardized: bool = False) -> torch.Tensor:
        """Scores (N,) in [1, 5]; ``standardized`` skips the input scaling (as CalibrationHead's)."""
        return torch.softmax(self.level_logits(features, standardized), dim=-1) @ self.level_weights

    def config(self) -> dict:
        return {"kind": KIND, "dim": self.dim, "embed_dim": self.embed_dim, "hidden": self.hidden,
                "dropout": self.dropout, "logit_scale": float(self.logit_scale)}
