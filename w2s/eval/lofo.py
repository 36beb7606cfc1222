"""Leave-one-family-out: how a student generalises to a distortion it never saw, on the training pool.

The eval set's OOD families measure generalisation, but choosing settings by
them spends the held-out set. LOFO measures the same thing inside the training
pool: for each training family f, the run's rounds are trained again on the
pool without f's items (its distortion pairs go, and so does every teacher
pair that would touch one; the clean clips stay: :func:`w2s.run.leave_one_family_out`),
then each student scores the family-f ladders of the pool. The ground truth is the known severity order, so no human
score and no held-out item is needed.

Per family the student is set against each teacher's raw scores and the
teacher ensemble on the same groups. Teachers need no training, so their
figures are computed once; the ensemble's weights follow the run's rule
(``pairs.ensemble``) measured without family f, as the held-out student's
teacher pairs were. The figure that matters is the gap to the best single
teacher on each family and, worst of all, families the student ranks
backwards while some teacher ranks them forwards: the student learnt a feature
direction that family f moves the other way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from w2s.config import RunConfig
from w2s.eval.metrics import grouped_srcc
from w2s.eval.severity import severity_groups
from w2s.run.label import score_column

log = logging.getLogger(__name__)

STUDENT = "student"
LOFO_COLUMNS = ["model", "kind", "family", "srcc", "contents"]
SUMMARY_COLUMNS = [
    "model", "kind", "families", "mean_srcc", "worst_family", "worst_srcc",
    "mean_gap", "worst_gap", "worst_gap_family", "backwards",
]


def teacher_columns(items: pd.DataFrame, config: RunConfig) -> list[str]:
    """The configured teachers' score columns; a missing one fails here, naming it, not deep in pandas."""
    columns = [score_column(t) for t in config.teacher_names()]
    missing = [c for c in columns if c not in items]
    if missing:
        raise ValueError(f"items lack the teacher score column(s) {missing}: not the label stage of this config")
    return columns


def family_srcc(scores: np.ndarray, items: pd.DataFrame, family: str) -> tuple[float, int]:
    """Mean over contents of the SRCC with -level within (content, family), the clean clip as level 0;
    and how many contents counted (groups of 3 items or more, as ``grouped_srcc`` keeps)."""
    rows, gt, groups = severity_groups(items, [family])
    if not len(rows):
        return float("nan"), 0
    names, sizes = np.unique(groups, return_counts=True)
    counted = sum(int(n >= 3 and np.ptp(gt[groups == g]) > 0) for g, n in zip(names, sizes))
    return grouped_srcc(np.asarray(scores, dtype=np.float64)[rows], gt, groups), counted


def leave_one_family_out(
    items: pd.DataFrame,
    config: RunConfig,
    fit: Callable[[str], dict[str, np.ndarray]],
    families: Iterable[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Per (model, family) SRCC on the training pool, the students trained without that family.

    ``fit(family)`` trains without ``family`` and returns the scores over all
    ``items`` of every model it made, by name: a name starting with
    ``student`` is a student row, any other (the teachers' ensemble) an
    ensemble row. The run passes one that runs its own rounds on the pool
    without the family (:func:`w2s.run.leave_one_family_out`), so the held-out
    students learn from exactly the pairs a run builds. ``families`` defaults
    to the configured training families that have items. Columns: model, kind
    (student | ensemble | teacher | reference, a full-reference teacher),
    family, srcc, contents (groups scored). ``progress`` logs each family at
    INFO, not DEBUG.
    """
    present = set(items.family)
    if families is None:
        families = [f for f in config.distortions if f in present]
    else:
        families = list(families)
        absent = [f for f in families if f not in present or f == ""]
        if absent:
            raise ValueError(f"no items of family {absent} in the pool (families: {sorted(present - {''})})")
    columns = teacher_columns(items, config)
    level = logging.INFO if progress else logging.DEBUG
    from teachers import teacher_class

    # rows in table order: the students, the ensemble, then each teacher; families in the order given
    student, ensemble, teachers = [], [], []
    for name, column in zip(config.teacher_names(), columns):
        # a full-reference teacher sees the clean clip, which no student ever does: a reference
        # row, not a competitor the student is measured against
        kind = "reference" if teacher_class(name).full_reference else "teacher"
        for family in families:
            value, contents = family_srcc(items[column].to_numpy(dtype=np.float64), items, family)
            teachers.append((name, kind, family, value, contents))
    for i, family in enumerate(families):
        for name, scores in fit(family).items():
            value, contents = family_srcc(scores, items, family)
            kind = "student" if name.startswith(STUDENT) else "ensemble"
            (student if kind == "student" else ensemble).append((name, kind, family, value, contents))
            log.log(level, "lofo %d/%d: without %s: %s SRCC %.3f", i + 1, len(families), family, name, value)
    return pd.DataFrame(student + ensemble + teachers, columns=LOFO_COLUMNS)


def family_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with, per row, the best single teacher on that family, its SRCC, the gap to it and
    whether the row's model ranks the family backwards (SRCC < 0) while that teacher ranks it forwards."""
    teachers = df[df.kind == "teacher"].dropna(subset=["srcc"])
    if len(teachers):
        best = teachers.loc[teachers.groupby("family").srcc.idxmax(), ["family", "model", "srcc"]]
        best = best.rename(columns={"model": "best_teacher", "srcc": "best_teacher_srcc"})
    else:
        best = pd.DataFrame(columns=["family", "best_teacher", "best_teacher_srcc"])
    out = df.merge(best, on="family", how="left")
    out["best_teacher_srcc"] = out.best_teacher_srcc.astype(np.float64)
    out["gap"] = out.srcc - out.best_teacher_srcc
    out["backwards"] = (out.srcc < 0) & (out.best_teacher_srcc > 0)
    return out


def summarize_lofo(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model: mean SRCC over families, the worst family and its SRCC, the mean and worst
    gap to the best single teacher per family, and how many families it ranks backwards where the best
    teacher ranks them forwards. Families with no SRCC (no scorable group) are left out."""
    gaps = family_gaps(df)
    rows = []
    for model, g in gaps.groupby("model", sort=False):
        scored = g.dropna(subset=["srcc"])
        worst = scored.loc[scored.srcc.idxmin()] if len(scored) else None
        with_gap = scored.dropna(subset=["gap"])
        worst_gap = with_gap.loc[with_gap.gap.idxmin()] if len(with_gap) else None
        rows.append(
            {
                "model": model,
                "kind": g.kind.iloc[0],
                "families": len(scored),
                "mean_srcc": float(scored.srcc.mean()) if len(scored) else float("nan"),
                "worst_family": None if worst is None else worst.family,
                "worst_srcc": float("nan") if worst is None else float(worst.srcc),
                "mean_gap": float(with_gap.gap.mean()) if len(with_gap) else float("nan"),
                "worst_gap": float("nan") if worst_gap is None else float(worst_gap.gap),
                "worst_gap_family": None if worst_gap is None else worst_gap.family,
                "backwards": int(g.backwards.sum()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def lofo_markdown(summary: pd.DataFrame, per_family: pd.DataFrame) -> str:
    """A report section: the per-model summary, then SRCC per held-out family and model."""
    from w2s.eval.tables import markdown_table

    gaps = family_gaps(per_family)
    models = list(dict.fromkeys(per_family.model))
    table = gaps.pivot(index="family", columns="model", values="srcc")
    families = list(dict.fromkeys(per_family.family))
    table = table.reindex(index=families, columns=models).astype(np.float64)
    best = gaps.drop_duplicates("family").set_index("family").best_teacher.reindex(families)
    table.insert(0, "family", families)
    table["best teacher"] = best.fillna("-").to_numpy()
    student = gaps[gaps.model == STUDENT].set_index("family").reindex(families)
    if len(student.dropna(subset=["srcc"])):
        table["student gap"] = student.gap.astype(np.float64).to_numpy()
    shown = summary.rename(
        columns={
            "mean_srcc": "mean SRCC", "worst_family": "worst family", "worst_srcc": "worst SRCC",
            "mean_gap": "mean gap", "worst_gap": "worst gap", "worst_gap_family": "worst-gap family",
        }
    )
    return "\n".join(
        [
            "## Leave-one-family-out (training pool)",
            "",
            (
                "Each family is held out of round-0 training in turn (its distortion pairs and every teacher pair "
                "touching it); SRCC with the severity order within (content, family), clean clip as level 0, "
                "averaged over contents. Gap: against the best single teacher on that family; backwards: families "
                "ranked backwards (SRCC < 0) while the best teacher ranks them forwards."
            ),
            "",
            markdown_table(shown),
            "",
            markdown_table(table.reset_index(drop=True)),
            "",
        ]
    )
