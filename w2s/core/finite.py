"""One rule for a score that is not a number: the input failed.

A model that meets an input it cannot rate (an all-black or blank clip, a
constant frame) can answer NaN or an infinity. Such a number sorts and averages
as garbage, so every path that scores (the Python API, ``w2s score``,
``w2s evaluate`` and ``w2s study``) passes its score through
:func:`finite_score`: the input becomes a failure with this reason, never an
``ok`` row with an empty score.
"""

from __future__ import annotations

import math

from w2s.core.errors import W2SError


class NonFiniteScore(W2SError):
    """A model gave NaN or an infinity for an input."""


def finite_score(value, what: str, model: str | None = None) -> float:
    """``value`` as a float; :class:`NonFiniteScore` naming ``what`` (the input) when it is NaN or infinite.

    >>> finite_score(0.5, "a.mp4")
    0.5
    >>> finite_score(float("nan"), "black.mp4", "pyiqa:niqe")
    Traceback (most recent call last):
    ...
    w2s.core.finite.NonFiniteScore: black.mp4: non-finite score (nan) from pyiqa:niqe: it cannot rate this input (a blank or all-black clip?), so the input counts as failed
    """
    score = float(value)
    if not math.isfinite(score):
        source = f" from {model}" if model else ""
        raise NonFiniteScore(f"{what}: non-finite score ({score}){source}: it cannot rate this input (a blank or "
                             "all-black clip?), so the input counts as failed")
    return score
