"""Defaults every teacher shares; a teacher class overrides only what differs.

The members are those of :class:`w2s.protocols.Teacher`. ``describe()`` is the
first line of the class docstring, so a teacher documents itself once.
"""

from __future__ import annotations

from w2s.registry import DescribedByDocstring


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
