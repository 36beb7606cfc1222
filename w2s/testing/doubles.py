"""Test doubles that satisfy the plugin protocols: a teacher that records what it saw, and
backbones whose features are plain pixel means (fast, exact, no weights).

Shared by the tests (and usable in a user's own tests of a new plugin's neighbours).
"""

from __future__ import annotations

import threading

import torch

from students.base import BackboneBase
from teachers.base import TeacherBase


class RecordingTeacher(TeacherBase):
    """A teacher whose score is the clip's mean brightness; it records the ids and threads it saw."""

    def __init__(self, name: str = "recording", thread_safe: bool = True):
        self.name = name
        self.thread_safe = thread_safe
        self.seen: list[str] = []
        self.threads: set[str] = set()

    def score(self, clip) -> float:
        self.seen.append(clip.id)
        self.threads.add(threading.current_thread().name)
        return float(clip.frames.mean())


class MeanBackbone(BackboneBase):
    """Features: the clip's mean per colour channel (3 values); no score of its own."""

    name, dim = "mean", 3

    def __init__(self, thread_safe: bool = True):
        self.thread_safe = thread_safe

    def embed(self, clip) -> torch.Tensor:
        return clip.frames.mean(dim=(0, 2, 3))

    def frame_features(self, frames) -> torch.Tensor:
        return frames.mean(dim=(2, 3))  # (T, 3)

    def parameter_count(self) -> int:
        return 0

    def to(self, device):  # not a torch module, like the VLM backbone: moves itself
        self.device = str(device)
        return self


class ScoringBackbone(MeanBackbone):
    """A backbone with a score of its own (as a VLM's zero-shot rating): ten times the mean brightness."""

    name = "scoring"

    def embed_with_base(self, clip) -> tuple[torch.Tensor, float]:
        return self.embed(clip), float(clip.frames.mean() * 10)


class NaNTeacher(TeacherBase):
    """``double:STEM`` — a test double: NaN for the clip whose id (a file's stem) is STEM, as a real
    model answers an all-black clip it cannot rate; the mean brightness for every other clip.
    Tests register the family (``TEACHER_FAMILIES._table["double"] = "w2s.testing.doubles:NaNTeacher"``)."""

    def __init__(self, stem: str):
        self.name, self.stem = f"double:{stem}", stem

    def score(self, clip) -> float:
        return float("nan") if clip.id == self.stem else float(clip.frames.mean())
