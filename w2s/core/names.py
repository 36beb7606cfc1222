"""Names that every part of a run shares: a teacher's score column, a recycled student's name."""


def score_column(teacher_name: str) -> str:
    """The column of a teacher's scores in the pool's items and every scores file."""
    return f"score:{teacher_name}"


def student_teacher_name(k: int) -> str:
    """The round-k student's name as a teacher of later rounds and in tables."""
    return f"student r{k}"
