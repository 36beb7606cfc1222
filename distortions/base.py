"""Shared ladder, level and params handling for every distortion family."""

from __future__ import annotations

import math
import random
from typing import Any

from w2s.core.errors import W2SError
from w2s.core.registry import DescribedByDocstring


def draw_rng(family: str, seed: int) -> random.Random:
    """A private RNG for one family and seed.

    A string seed is hashed with SHA-512 by :class:`random.Random`, so the draw
    is the same in every process (unlike ``hash()``, which ``PYTHONHASHSEED``
    salts). The level is left out on purpose: one seed gives the same angle /
    noise map at every level, so levels differ only in strength.
    """
    return random.Random(f"w2s-distortion:{family}:{seed}")


class LadderDistortion(DescribedByDocstring):
    """A distortion whose levels 1..N are the strengths listed in a ladder.

    Subclasses set ``name``, ``DEFAULT_LADDER``, ``STRENGTH`` (what a ladder
    value means, for messages), ``INTEGER`` (ladder values must be ints),
    ``INCREASING`` (a larger value is more severe) and ``check_value``; they
    implement ``apply`` and, if they draw random things, ``draws``.
    """

    name: str = ""
    ladder: list = []  # the strengths of levels 1..N, set by the constructor
    levels: int = 0
    DEFAULT_LADDER: tuple = ()
    STRENGTH: str = "strength"
    INTEGER: bool = False
    INCREASING: bool = True
    # VMAF against the clean clip measures this family (codecs): the held-out set then
    # uses it as a full-reference ground truth across contents
    scored_by_vmaf: bool = False
    # frame t of a variant shows the same pixels as frame t of its clean clip (moved in value, not in
    # place or time): only then does a full-reference teacher measure what the variant lost. A
    # shifted, cropped or re-timed variant (jitter, stutter, frame-rate drops) is not: its frames
    # differ from the reference by the motion itself, so such teachers abstain on it
    aligned: bool = True

    def __init__(self, ladder: list | None = None):
        if ladder is None:
            ladder = list(self.DEFAULT_LADDER)
        self.ladder = self._validate_ladder(ladder)
        self.levels = len(self.ladder)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ladder={self.ladder!r})"

    # -- ladder validation -------------------------------------------------

    def check_value(self, value) -> str | None:
        """Return why ``value`` is not a valid strength, or None if it is."""
        return None

    def _validate_ladder(self, ladder) -> list:
        fam = self.name
        if not isinstance(ladder, (list, tuple)):
            raise W2SError(
                f"{fam}: ladder must be a list of {self.STRENGTH} values, got {type(ladder).__name__} {ladder!r}"
            )
        if len(ladder) == 0:
            raise W2SError(f"{fam}: ladder is empty; list at least one {self.STRENGTH} value")
        out = [self.coerce_value(v, ladder) for v in ladder]
        for prev, cur in zip(out, out[1:]):
            if not self.is_more_severe(prev, cur):
                raise W2SError(
                    f"{fam}: ladder must go from mildest to most severe ({self.order_text()}), "
                    f"but {cur!r} follows {prev!r} in {out!r}"
                )
        return out

    def coerce_value(self, v, ladder):
        """One ladder value, checked and normalised (a plain int or float here).

        Families whose ladder values are not plain numbers (chains) override
        this, :meth:`is_more_severe` and :meth:`order_text`.
        """
        fam = self.name
        # bool is an int subclass; True/False as a strength is always a mistake.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise W2SError(f"{fam}: ladder value {v!r} is not a number (ladder {list(ladder)!r})")
        if self.INTEGER and not isinstance(v, int):
            raise W2SError(f"{fam}: ladder value {v!r} must be an integer {self.STRENGTH} (ladder {list(ladder)!r})")
        if not math.isfinite(v):
            raise W2SError(f"{fam}: ladder value {v!r} is not finite (ladder {list(ladder)!r})")
        why = self.check_value(v)
        if why:
            raise W2SError(f"{fam}: ladder value {v!r} is invalid: {why} (ladder {list(ladder)!r})")
        return int(v) if self.INTEGER else float(v)

    def is_more_severe(self, prev, cur) -> bool:
        """Whether ladder value ``cur`` is strictly more severe than ``prev``."""
        return cur > prev if self.INCREASING else cur < prev

    def order_text(self) -> str:
        return f"{self.STRENGTH} {'strictly increasing' if self.INCREASING else 'strictly decreasing'}"

    # -- params ------------------------------------------------------------

    def draws(self, rng: random.Random) -> dict:
        """Random draws for one seed (plain JSON types). Default: none."""
        return {}

    def extra_params(self, level: int) -> dict:
        """Non-random fields recorded beside the strength. Default: none."""
        return {}

    def params(self, level: int, seed: int) -> dict:
        """The replayable description of one variant: level, strength and every random draw."""
        if isinstance(level, bool) or not isinstance(level, int):
            raise W2SError(f"{self.name}: level must be an integer in 1..{self.levels}, got {level!r}")
        if not 1 <= level <= self.levels:
            raise W2SError(f"{self.name}: level {level} is outside 1..{self.levels}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise W2SError(f"{self.name}: seed must be an integer, got {seed!r}")
        p: dict[str, Any] = {"level": level, "strength": self.ladder[level - 1]}
        p.update(self.extra_params(level))
        p.update(self.draws(draw_rng(self.name, seed)))
        return p

    def _get(self, params: dict, key: str):
        """A required params field, or a one-line error naming the family."""
        if not isinstance(params, dict) or key not in params:
            raise W2SError(f"{self.name}: params lack {key!r} (got {params!r}); build them with .params(level, seed)")
        return params[key]

    def _strength(self, params: dict):
        v = self._get(params, "strength")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise W2SError(f"{self.name}: params strength {v!r} is not a number")
        why = self.check_value(v)
        if why:
            raise W2SError(f"{self.name}: params strength {v!r} is invalid: {why}")
        return v


def luma(frames):
    """BT.601 luma of (T, 3, H, W) RGB frames, kept as (T, 1, H, W) for broadcasting."""
    import torch

    w = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
    return (frames * w).sum(dim=1, keepdim=True)
