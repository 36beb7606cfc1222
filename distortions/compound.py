"""Chains of families applied one after another, level by level."""

from __future__ import annotations

from distortions.base import LadderDistortion, draw_rng
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


def _family(name: str):
    from distortions import DISTORTIONS

    return DISTORTIONS.resolve(name)


class Chain(LadderDistortion):
    """Families composed in order; ladder value i is the list of the steps' strengths at level i.

    ``Chain(steps=[("resize", [2, 3]), ("h264", [24, 36])])`` builds the
    two-level ladder ``[[2, 24], [3, 36]]``; ``Chain(ladder, steps=["resize",
    "h264"])`` takes the ladder as given. Each value is checked by its step's
    family, and from one level to the next every step must be at least as
    severe and one strictly more. Params record the strengths and, per step,
    that family's own params (drawn from a per-step seed that does not depend
    on the level), so replay needs nothing else.
    """

    name = "chain"
    STEPS: tuple = ()
    STRENGTH = "per-step strengths"

    def __init__(self, ladder: list | None = None, steps: list | None = None, name: str | None = None):
        if name is not None:
            self.name = name
        given = list(steps) if steps is not None else list(self.STEPS)
        if not given:
            raise W2SError(f"{self.name}: a chain needs at least one step")
        names, columns = [], []
        for st in given:
            if isinstance(st, str):
                names.append(st)
                columns.append(None)
            elif isinstance(st, (list, tuple)) and len(st) == 2 and isinstance(st[0], str):
                names.append(st[0])
                columns.append(st[1])
            else:
                raise W2SError(f"{self.name}: step {st!r} is neither a family name nor a (family, ladder) pair")
        if "chain" in names or any(n == self.name for n in names):
            raise W2SError(f"{self.name}: a chain cannot contain itself")
        self.steps = names
        self._classes = [_family(n) for n in names]
        if ladder is None and all(c is not None for c in columns) and steps is not None:
            lens = {len(c) if isinstance(c, (list, tuple)) else -1 for c in columns}
            if len(lens) != 1 or -1 in lens:
                raise W2SError(f"{self.name}: step ladders must be lists of one length, got {columns!r}")
            ladder = [list(v) for v in zip(*columns)]
        elif ladder is None:
            ladder = [list(v) for v in self.DEFAULT_LADDER]
        super().__init__(ladder)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ladder={self.ladder!r}, steps={self.steps!r})"

    def _step(self, i: int, value):
        """A one-level instance of step i at ``value`` (its own family checks the value)."""
        return self._classes[i]([value])

    def coerce_value(self, v, ladder):
        n = len(self.steps)
        if not isinstance(v, (list, tuple)) or len(v) != n:
            raise W2SError(
                f"{self.name}: ladder value {v!r} must list {n} strengths, one per step {self.steps} "
                f"(ladder {list(ladder)!r})"
            )
        out = []
        for i, x in enumerate(v):
            try:
                out.append(self._step(i, x).ladder[0])
            except W2SError as e:
                raise W2SError(f"{self.name}: ladder value {list(v)!r}, step {self.steps[i]}: {e}") from e
        return out

    def is_more_severe(self, prev, cur) -> bool:
        strict = False
        for cls, a, b in zip(self._classes, prev, cur):
            inc = cls.INCREASING
            if a == b:
                continue
            if (b > a) != inc:
                return False
            strict = True
        return strict

    def order_text(self) -> str:
        return "every step at least as severe, one strictly more"

    def params(self, level: int, seed: int) -> dict:
        p = super().params(level, seed)
        rng = draw_rng(self.name, seed)
        sub = []
        for i, (fam, value) in enumerate(zip(self.steps, self.ladder[level - 1])):
            sp = self._step(i, value).params(1, rng.randrange(2**31))
            sp["level"] = level
            sub.append({"family": fam, "params": sp})
        p["steps"] = sub
        return p

    def _strength(self, params):  # a list here, checked step by step in apply
        return self._get(params, "strength")

    def apply(self, clip: Clip, params: dict) -> Clip:
        self._get(params, "strength")
        steps = self._get(params, "steps")
        if not isinstance(steps, list) or [s.get("family") if isinstance(s, dict) else None for s in steps] != self.steps:
            raise W2SError(f"{self.name}: params steps {steps!r} do not match the chain {self.steps}")
        for i, st in enumerate(steps):
            sp = st.get("params")
            if not isinstance(sp, dict) or "strength" not in sp:
                raise W2SError(f"{self.name}: params of step {st['family']} lack 'strength' (got {sp!r})")
            clip = self._step(i, sp["strength"]).apply(clip, sp)
        return clip


class ResizeH264(Chain):
    """Down-up resize by f, then H.264 (preset fast) at CRF c; the ladder lists [f, c] pairs, both rising."""

    name = "resize_h264"
    STEPS = ("resize", "h264")
    DEFAULT_LADDER = ((1.5, 24), (2, 30), (3, 36), (4, 42))
