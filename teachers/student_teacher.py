"""A saved student as a teacher: how round k's student teaches round k+1."""

from __future__ import annotations

from pathlib import Path

import torch

from w2s.errors import W2SError
from w2s.media.clip import Clip


class StudentTeacher:
    """``student:PATH`` — scores with a student folder written by ``save_pretrained``."""

    def __init__(self, path: str, name: str | None = None):
        from students.student import Student

        self.check(path)
        self.path = Path(path)
        self.student = Student.from_pretrained(self.path)
        self.name = name or f"student:{path}"
        self.backbone_name = self.student.backbone_name

    @staticmethod
    def check(path: str) -> None:
        if not (Path(path) / "config.json").is_file():
            raise W2SError(f"student teacher: no saved student at {path!r} (expected {path}/config.json)")

    def score_features(self, features: torch.Tensor) -> torch.Tensor:
        """Scores from cached backbone features: no pixels needed inside a run."""
        return self.student.score_features(features)

    def score(self, clip: Clip) -> float:
        return self.student.score(clip)
