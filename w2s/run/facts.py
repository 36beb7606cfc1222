"""What a run's student saw and where it is weak, read from the run's own files and config: the
run's report (:mod:`w2s.run.report`) and every student's model card (:mod:`w2s.eval.model_card`)
state the same facts, and nothing that the run did not measure."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from w2s.config import RunConfig
from w2s.core.names import student_teacher_name


def pool_facts(items: pd.DataFrame, config: RunConfig) -> dict:
    """The training pool of ``items`` (a label stage's items): where it came from, its clean clips,
    its items and, per training family, its ladder (what a level's strength is), how many items it
    has and what labels them (distortion pairs and teachers, or the teachers only)."""
    from distortions import DISTORTIONS, make_distortions

    families = config.training_families()
    items = items[(items.family == "") | items.family.isin(list(families))]
    # a family a plugin registered elsewhere (or a test's stand-in) is told by its config ladder alone
    made = make_distortions({f: ladder for f, ladder in families.items() if f in DISTORTIONS})
    return {
        "source": str(config.pool.source),
        "clips": int((items.family == "").sum()),
        "items": len(items),
        "families": {f: {"ladder": list(made[f].ladder) if f in made else list(families[f] or []),
                         "strength": made[f].STRENGTH if f in made else None,
                         "items": int((items.family == f).sum()),
                         "labels": "distortion pairs and teachers" if f in config.distortions else "teachers only"}
                     for f in families},
    }


def lofo_of(path: Path, k: int) -> dict | None:
    """Round ``k``'s student in the run's leave-one-family-out table (``path``, when it exists):
    its mean SRCC over the held-out families, its weakest family and the families it ranks
    backwards while the best teacher does not; None when the table has no row for it."""
    if not Path(path).exists():
        return None
    from w2s.eval.lofo import summarize_lofo

    summary = summarize_lofo(pd.read_parquet(path)).set_index("model")
    name = student_teacher_name(k)
    if name not in summary.index:
        return {"rounds": sorted(m for m in summary.index if m.startswith("student"))}
    row = summary.loc[name]
    return {"mean_srcc": float(row.mean_srcc), "worst_family": row.worst_family, "worst_srcc": float(row.worst_srcc),
            "families": int(row.families), "backwards": int(row.backwards)}


def weak_spots(config: RunConfig, k: int, metrics: dict | None, lofo_path: Path) -> dict:
    """Where round ``k``'s student is weak, as far as the run measured it: the OOD families (never in
    training) with its held-out SRCC on each when there was a held-out set, the weakest family
    of the held-out set, and the leave-one-family-out row (None when those did not run)."""
    per_family = ((metrics or {}).get(student_teacher_name(k)) or {}).get("per_family", {})
    scored = {f: v for f, v in per_family.items() if v is not None and not math.isnan(v)}
    weakest = min(scored, key=scored.get) if scored else None
    return {
        "evaluated": metrics is not None,
        "ood": {f: scored.get(f) for f in config.eval.ood},
        "weakest": None if weakest is None else {"family": weakest, "srcc": scored[weakest],
                                                 "ood": weakest in config.eval.ood},
        "lofo": lofo_of(lofo_path, k),
        "lofo_setting": config.eval.lofo,
    }
