"""Which calibration branch a student trains (``student.head``), built new or rebuilt from a saved config.

``mlp`` (:class:`students.calibration.CalibrationHead`): standardise, then a
small MLP, on any backbone's features; its output is a residual added to the
base. ``quality_prompts`` (:class:`students.quality_prompts.QualityPromptHead`):
the Q-CLIP branch, for a ``clip:`` backbone; its output is a 1..5 score.
A saved head's ``config.json`` entry names its kind (none: ``mlp``, as
students saved before there was a choice).
"""

from __future__ import annotations

from w2s.core.errors import W2SError

# the words of the config's `student.head` (w2s.config.HeadKind, where they are defined and documented;
# a plugin imports only w2s.core, so they are spelled here too): tests/test_config.py checks they agree
HEAD_KINDS = ("mlp", "quality_prompts")


def build_head(dim: int, student, blocks: list | None = None):
    """A new, untrained branch for ``dim`` features, as the ``student:`` config section asks."""
    if student.head == "quality_prompts":
        from students import split_spec
        from students.quality_prompts import QualityPromptHead

        family, model = split_spec(student.backbone) if isinstance(student.backbone, str) else (None, None)
        if family != "clip" or blocks:
            raise W2SError(f"student.head: quality_prompts needs a single clip:PATH backbone, got {student.backbone!r}")
        return QualityPromptHead.for_clip(model, dim, hidden=student.hidden, dropout=student.dropout)
    if student.head != "mlp":
        raise W2SError(f"student.head must be one of {', '.join(HEAD_KINDS)}, got {student.head!r}")
    from students.calibration import CalibrationHead

    return CalibrationHead(dim, hidden=student.hidden, dropout=student.dropout, blocks=blocks)


def head_from_config(config: dict):
    """An empty branch of the shape a saved ``config.json`` describes (load its weights next)."""
    config = dict(config)
    kind = config.pop("kind", "mlp")
    if kind == "quality_prompts":
        from students.quality_prompts import QualityPromptHead

        return QualityPromptHead(**config)
    if kind != "mlp":
        raise W2SError(f"a saved student's head kind {kind!r} is unknown here (known: {', '.join(HEAD_KINDS)})")
    from students.calibration import CalibrationHead

    return CalibrationHead(**config)
