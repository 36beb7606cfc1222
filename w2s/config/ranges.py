"""The values a number key may take, declared on its field, and the checks a config gets before any work.

A key's range is its field's ``metadata["valid"]`` (:func:`at_least`, :func:`above`, :func:`within`),
checked by :func:`check_ranges` for every field of every section, so a mistake such as
``pool.max_side: -5`` fails when the config is read, not after every video has failed. The
distortion ladders and the frame sampler are checked by their own plugins (:func:`check_plugin_values`):
each family knows its valid strengths (``check_value`` in ``distortions/``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from w2s.core.errors import ConfigError, W2SError


@dataclass(frozen=True)
class Valid:
    """A closed or open interval (either end may be missing), and optionally 0 besides it, with its meaning."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    zero: str = ""  # 0 is allowed too and means this (`all`, `never`, `keeps them`)

    def holds(self, value: float) -> bool:
        if self.zero and value == 0:
            return True
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            text = f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"
        elif self.low is not None:
            text = f"above {self.low:g}" if self.open_low else f"at least {self.low:g}"
        else:
            text = f"below {self.high:g}" if self.open_high else f"at most {self.high:g}"
        return f"0 ({self.zero}) or {text}" if self.zero else text


def at_least(low: float, zero: str = "") -> Valid:
    return Valid(low=low, zero=zero)


def above(low: float) -> Valid:
    return Valid(low=low, open_low=True)


def within(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Valid:
    return Valid(low, high, open_low, open_high)


def check_ranges(section, where: str = "") -> None:
    """Every number key of ``section`` (a config dataclass, recursively) inside its declared range."""
    for f in dataclasses.fields(section):
        key = f"{where}.{f.name}" if where else f.name
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, key)
        elif "valid" in f.metadata and value is not None and not f.metadata["valid"].holds(value):
            raise ConfigError(f"{key} must be {f.metadata['valid']}, got {value!r}")


def check_plugin_values(config) -> None:
    """The frame sampler's settings and every family's ladder, each checked by its own code, the error
    naming the key (``distortions.noise``, ``eval.ood.h265``, ``pool.sampler``). It imports the
    families (and so torch): :func:`w2s.config.load_config` calls it for a new run, not when a
    finished run's recorded config is read back."""
    from distortions import DISTORTIONS
    from w2s.media.samplers import make_sampler

    try:
        make_sampler(config.pool.sampler)
    except W2SError as e:
        raise ConfigError(f"pool.sampler: {e}") from None
    mappings = {"distortions": config.distortions, "teacher_only": config.teacher_only,
                "eval.in_distribution": config.eval.in_distribution or {}, "eval.ood": config.eval.ood}
    for key, families in mappings.items():
        for family, ladder in families.items():
            try:
                DISTORTIONS.resolve(family)(ladder=ladder)
            except W2SError as e:
                reason = str(e).removeprefix(f"{family}: ")
                raise ConfigError(f"{key}.{family}: {reason}") from None
