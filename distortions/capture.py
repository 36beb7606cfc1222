"""Chains of camera-capture distortions, as a phone stacks them: lens, exposure, colour, sharpening, re-encoding."""

from __future__ import annotations

from distortions.base import LadderDistortion, draw_rng
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

# the stages of a capture in the order light meets them; a chain takes at most one family per stage
# (a shot is not both under- and over-exposed, nor both defocused and shaken, in one chain)
STAGES = (("defocus", "shake"), ("lowlight", "exposure"), ("wb",), ("halo",), ("jpeg2x",))
FAMILIES = tuple(f for stage in STAGES for f in stage)
# every family above has 4 levels on its default ladder
SEVERITIES = 4


def _family(name: str):
    from distortions import DISTORTIONS

    return DISTORTIONS.resolve(name)


class Capture(LadderDistortion):
    """A capture chain: 2-3 camera families picked by the seed, at matched levels; the ladder lists the severity.

    Severity k applies level k of each picked family's default ladder, in capture order (lens,
    exposure, white balance, halo, double JPEG), one family per stage. The pick, and every picked
    family's own draws, come from the seed alone, so a clip's levels differ only in severity.
    """

    name = "capture"
    DEFAULT_LADDER = (1, 2, 3, 4)
    STRENGTH = "severity"
    INTEGER = True

    def check_value(self, value):
        if isinstance(value, int) and 1 <= value <= SEVERITIES:
            return None
        return f"severity must be an integer in 1..{SEVERITIES} (a level of each picked family's default ladder)"

    def pick(self, seed: int) -> list[tuple[str, int]]:
        """(family, its own seed) for each step of the chain ``seed`` draws, in capture order."""
        rng = draw_rng(self.name, seed)
        stages = sorted(rng.sample(range(len(STAGES)), rng.choice((2, 3))))
        return [(rng.choice(STAGES[i]), rng.randrange(2**31)) for i in stages]

    def params(self, level: int, seed: int) -> dict:
        p = super().params(level, seed)
        severity = p["strength"]
        p["steps"] = [{"family": f, "params": _family(f)().params(severity, s)} for f, s in self.pick(seed)]
        return p

    def apply(self, clip: Clip, params: dict) -> Clip:
        self._strength(params)
        steps = self._get(params, "steps")
        if not isinstance(steps, list) or not all(isinstance(s, dict) and s.get("family") in FAMILIES for s in steps):
            raise W2SError(f"{self.name}: params steps {steps!r} must list {{family, params}} of {list(FAMILIES)}")
        for st in steps:
            clip = _family(st["family"])().apply(clip, st.get("params"))
        return clip
