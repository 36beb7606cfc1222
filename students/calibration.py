"""The calibration branch: the only part of a student that trains.

It maps frozen features to a residual added to the backbone's base score
(zero for a CNN backbone, the level-word score for a VLM). Features are
standardised with statistics of the training items, stored as buffers so a
saved student needs nothing else to score new clips.
"""

from __future__ import annotations

import torch
from torch import nn


class CalibrationHead(nn.Module):
    """Standardise, then a small MLP (or a linear layer when ``hidden == 0``)."""

    prior = None  # the students.prior.TeacherPrior its residual was trained on top of, if any

    def __init__(self, dim: int, hidden: int = 128, dropout: float = 0.1, blocks: list | None = None):
        super().__init__()
        self.dim, self.hidden, self.dropout = dim, hidden, dropout
        self.register_buffer("feat_mean", torch.zeros(dim))
        self.register_buffer("feat_std", torch.ones(dim))
        # blocks ([[size, scale], ...], several backbones: students.multi) scale each backbone's
        # standardised block so that none outweighs another by its feature count alone; a single
        # backbone has none, and then no buffer either, so its saved head is what it always was
        self.blocks = [[int(n), float(s)] for n, s in blocks] if blocks else None
        if self.blocks:
            if sum(n for n, _ in self.blocks) != dim:
                raise ValueError(f"blocks {self.blocks} do not add up to the head's {dim} features")
            scale = torch.cat([torch.full((n,), s) for n, s in self.blocks])
            self.register_buffer("feat_scale", scale)
        # dropout on the hidden layer, not the input: masking thousands of input
        # features every step cost as much as the rest of the step together
        if hidden > 0:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        else:
            self.net = nn.Sequential(nn.Linear(dim, 1))

    def set_normalization(self, features: torch.Tensor) -> None:
        """Fit the standardisation to the training items' features (N, dim)."""
        self.feat_mean.copy_(features.mean(dim=0))
        # floor: a feature that is constant on the training items must not blow up elsewhere
        self.feat_std.copy_(features.std(dim=0).clamp(min=1e-3 * features.std().item() + 1e-8))

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feat_mean) / self.feat_std
        return x * self.feat_scale if self.blocks else x

    def forward(self, features: torch.Tensor, standardized: bool = False) -> torch.Tensor:
        """Residual scores (N,); ``standardized`` skips the input scaling (training
        standardises its fixed feature matrix once, not every step)."""
        x = features if standardized else self.standardize(features)
        return self.net(x).squeeze(-1)

    def config(self) -> dict:
        out = {"dim": self.dim, "hidden": self.hidden, "dropout": self.dropout}
        return {**out, "blocks": self.blocks} if self.blocks else out
