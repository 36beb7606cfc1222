"""A saved student as a teacher: how round k's student teaches round k+1."""

from __future__ import annotations

from pathlib import Path

from teachers.base import TeacherBase
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


class StudentTeacher(TeacherBase):
    """``student:PATH`` — a saved student (runs/NAME/round_XX/student, or round_XX/comparative), as written by ``save_pretrained``."""

    def __init__(self, path: str, name: str | None = None):
        from students import backbone_class
        from students.comparative import ComparativeStudent, is_comparative
        from students.student import Student
        from teachers import make_teacher

        self.check(path)
        self.path = Path(path)
        # a folder's config.json says which kind of student it holds (students/comparative.py)
        if is_comparative(self.path):
            self.student = ComparativeStudent.from_pretrained(self.path)
        else:  # a student with a prior builds its teachers with this package's factory
            self.student = Student.from_pretrained(self.path, make_teacher=make_teacher)
        self.name = name or f"student:{path}"
        self.backbone_name = self.student.backbone_name
        # as safe to call from several label workers as the backbone it runs
        self.thread_safe = backbone_class(self.backbone_name)[0].thread_safe

    @staticmethod
    def check(path: str) -> None:
        if not (Path(path) / "config.json").is_file():
            raise W2SError(f"student teacher: no saved student at {path!r} (expected {path}/config.json); "
                           "a run writes its students to runs/NAME/round_XX/student")
        from students.comparative import check_folder, is_comparative

        if is_comparative(path):
            check_folder(path)  # every file, and the base model, before anything is loaded

    def score(self, clip: Clip) -> float:
        return self.student.score(clip)
