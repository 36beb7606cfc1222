"""Defaults every backbone shares; a backbone class overrides only what differs.

The members are those of :class:`w2s.core.protocols.Backbone`. ``describe()`` is
the first line of the class docstring, so a backbone documents itself once.
"""

from __future__ import annotations

import torch

from w2s.core.clip import Clip
from w2s.core.registry import DescribedByDocstring


class BackboneBase(DescribedByDocstring):
    name: str = ""  # set by the constructor
    dim: int = 0  # feature length, set by the constructor
    # several label workers may call embed() at once (no per-call state)
    thread_safe: bool = True
    # the constructor accepts device= (loaded straight onto it); others are moved with .to(device)
    takes_device: bool = False

    def embed(self, clip: Clip) -> torch.Tensor:
        raise NotImplementedError

    def embed_with_base(self, clip: Clip) -> tuple[torch.Tensor, float]:
        """Features and the backbone's own score: 0 for a backbone without one (a CNN)."""
        return self.embed(clip), 0.0

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
