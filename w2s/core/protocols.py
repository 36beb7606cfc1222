"""The contracts plugins satisfy. ``w2s`` knows these, never a plugin.

Each protocol lists what the engine calls, and nothing is probed with
``getattr``: a plugin that lacks a member fails ``tests/test_protocols.py``,
which checks every registry entry against these, rather than being treated
differently at run time. The small base classes beside the plugins
(``teachers.base.TeacherBase``, ``students.base.BackboneBase``,
``distortions.base.LadderDistortion``) give the usual defaults, so a new
plugin writes only what differs.

A plugin's *facts* live on its class, where the engine reads them:

- ``thread_safe``: may be called from several label workers at once (a VLM's
  processor keeps per-call state: ``False`` makes the label stage use one);
- ``takes_device``: its constructor accepts ``device=`` (a run passes its
  accelerator's device, so a GPU launch scores on the GPU);
- ``full_reference``: a teacher that scores a variant against its clean clip
  (``Clip.reference``) and abstains on clean clips;
- ``aligned``: a distortion family whose variants keep every pixel in place and
  time, so a full-reference teacher can compare them with the clean clip;
- ``scored_by_vmaf``: a distortion family whose variants VMAF measures against
  the clean clip (the codecs), which the held-out set uses as a full-reference
  ground truth across contents;
- ``describe()``: one line for ``w2s list``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from w2s.core.clip import Clip


@runtime_checkable
class Teacher(Protocol):
    """Maps a clip to one quality score, oriented so that higher is better; NaN abstains."""

    name: str
    thread_safe: bool
    takes_device: bool
    full_reference: bool

    @classmethod
    def describe(cls) -> str: ...

    @staticmethod
    def check(arg: str) -> None:
        """Validate the name's argument (``piqe`` of ``pyiqa:piqe``) without loading anything."""

    def score(self, clip: Clip) -> float: ...

    def close(self) -> None:
        """Called once the label stage is through (e.g. a score table reports what it lacked)."""


@runtime_checkable
class Distortion(Protocol):
    """A degradation with ``levels`` severities; level 1 is the mildest.

    ``params`` draws everything random from ``seed`` and is pure, so the same
    ``(level, seed)`` always gives the same dict; ``apply`` is a pure function
    of the clip and that dict, so distorted pixels can be regenerated instead
    of stored. Params must be JSON-serialisable.

    The constructor takes ``ladder`` (None: the family's default) and refuses a
    value outside the family's valid range, which ``check_value`` declares; the
    config check builds each configured family, so a bad level fails before any
    work, naming its key (``w2s.config.ranges``).
    """

    name: str
    levels: int
    ladder: list
    scored_by_vmaf: bool
    aligned: bool

    @classmethod
    def describe(cls) -> str: ...

    def check_value(self, value) -> str | None:
        """Why ``value`` is not a valid strength of this family (its range, in words), or None."""

    def params(self, level: int, seed: int) -> dict: ...

    def apply(self, clip: Clip, params: dict) -> Clip: ...


@runtime_checkable
class Backbone(Protocol):
    """A frozen perception model: one feature vector per clip, and its own score (``base``).

    ``base`` is the backbone's own quality score of the clip (a VLM's
    level-word rating), the offset the calibration branch corrects; a backbone
    without one (a CNN) gives 0.
    """

    name: str
    dim: int
    thread_safe: bool
    takes_device: bool

    @classmethod
    def describe(cls) -> str: ...

    def embed(self, clip: Clip) -> torch.Tensor: ...

    def embed_with_base(self, clip: Clip) -> tuple[torch.Tensor, float]: ...

    def parameter_count(self) -> int: ...

    def to(self, device): ...


def protocol_members(protocol: type) -> list[str]:
    """The names a protocol requires: its annotated attributes and its methods."""
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if not n.startswith("_") and (callable(v) or isinstance(v, (classmethod, staticmethod)))}
    return sorted(names)


def missing_members(cls: type, protocol: type) -> list[str]:
    """What ``cls`` lacks of ``protocol``, checked on the class, so no model is built.

    Per-instance values (``name``, ``dim``) are declared on the class too, with a
    placeholder the constructor replaces: the base classes do that.
    """
    return [n for n in protocol_members(protocol) if not hasattr(cls, n)]
