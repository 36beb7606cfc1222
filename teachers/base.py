"""Defaults every teacher shares; a teacher class overrides only what differs.

The members are those of :class:`w2s.core.protocols.Teacher`. ``describe()`` is the
first line of the class docstring, so a teacher documents itself once.
"""

from __future__ import annotations

from w2s.core.errors import W2SError
from w2s.core.registry import DescribedByDocstring, suggest

# how a frame-wise teacher pools its frames' scores into the clip's (scores are oriented higher-is-better first)
POOLING = {
    "mean": lambda s: s.mean(),
    "median": lambda s: s.median(),
    "min": lambda s: s.min(),  # the worst frame: a brief glitch counts in full
}


def check_frame_options(name: str, pooling: str, frame_batch: int) -> None:
    """A frame-wise teacher's ``pooling`` and ``frame_batch`` options, checked (``name``: the teacher's)."""
    if pooling not in POOLING:
        raise W2SError(f"{name}: unknown pooling {pooling!r}: {suggest(pooling, POOLING)}")
    if isinstance(frame_batch, bool) or not isinstance(frame_batch, int) or frame_batch < 1:
        raise W2SError(f"{name}: frame_batch must be a positive integer, got {frame_batch!r}")


class TeacherBase(DescribedByDocstring):
    name: str = ""  # FAMILY:ARG, set by the constructor
    # several label workers may call score() at once (no per-call state)
    thread_safe: bool = True
    # the constructor accepts device= (a run passes the accelerator's device)
    takes_device: bool = False
    # scores a variant against its clean clip (Clip.reference) and abstains on clean clips: its
    # pairs are a source of their own, and its reliability is measured against the other such
    full_reference: bool = False

    @staticmethod
    def check(arg: str) -> None:
        """Validate the name's argument without loading anything; nothing to check by default."""

    def close(self) -> None:
        """Nothing to report by default."""
