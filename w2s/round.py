"""What one round computes, and the values it passes on: the labelled pool, the round's teachers
with their reliability, the pairs, the student and its evaluation. :mod:`w2s.run` strings them
together; nothing here reads or writes the run folder except through the paths it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from students.prior import TeacherPrior
from w2s import io
from w2s.config import RunConfig
from w2s.evaluate import evaluate_scores
from w2s.hard_cases import mine_hard_cases
from w2s.label import score_column
from w2s.pairs import (
    ensemble_score,
    item_index,
    teacher_matrix,
    teacher_pairs,
    teacher_reliability,
)
from w2s.reliability import across_reliability, reliability_weights
from w2s.train import score_items, train_head


@dataclass
class Labels:
    """A labelled pool: one row per item (clean clip or variant) and its frozen features."""

    items: pd.DataFrame
    features: torch.Tensor
    prior: TeacherPrior | None = None  # the teachers' ensemble a student corrects (student.prior)
    # the head's block scales when the features come from several backbones (students.multi)
    blocks: list | None = None

    @cached_property
    def index(self) -> dict[str, int]:
        return item_index(self.items)

    @cached_property
    def base(self) -> torch.Tensor:
        """What a student's branch adds its residual to, per item: the backbone's own score (a VLM's
        level-word score; 0 for a CNN), plus the teachers' prior when there is one."""
        base = self.items["base"].to_numpy(dtype=np.float64)
        if self.prior is not None:
            base = base + self.prior.of_scores({t: self.items[score_column(t)].to_numpy() for t in self.prior.teachers})
        return torch.tensor(base.astype(np.float32))

    def with_prior(self, prior: TeacherPrior | None) -> Labels:
        return self if prior is self.prior else Labels(self.items, self.features, prior, self.blocks)

    def restrict(self, families: set[str]) -> Labels:
        """The clean clips and the variants of ``families`` (self when nothing is left out)."""
        keep = (self.items.family == "") | self.items.family.isin(families)
        if keep.all():
            return self
        rows = np.flatnonzero(keep.to_numpy())
        return Labels(self.items.iloc[rows].reset_index(drop=True), self.features[torch.as_tensor(rows)], self.prior,
                      self.blocks)

    def write_scores(self, scores: np.ndarray, path: Path) -> None:
        io.write_parquet(pd.DataFrame({"item_id": self.items.item_id, "score": scores}), path)

    def read_scores(self, path: Path) -> np.ndarray:
        return pd.read_parquet(path).set_index("item_id").score.reindex(self.items.item_id).to_numpy()


def student_teacher_name(k: int) -> str:
    """The round-k student's name as a teacher of later rounds and in tables."""
    return f"student r{k}"


@dataclass
class Teachers:
    """A round's teachers on the pool: the configured ones, then each earlier student, out of fold.

    Full-reference teachers (``fr:``) label the pairs of distorted variants of
    their own source; the others (and the students) label the teacher pairs.
    Each has a reliability on two axes (:mod:`w2s.reliability`) and, with
    ``pairs.ensemble: reliability``, a weight on each: a pair of one content is
    labelled with the within weights, a pair of two contents with the across ones.
    """

    scores: pd.DataFrame  # the pool's items with a score column per teacher
    columns: list[str]  # every teacher's score column: the configured ones, then the students
    full_reference: set[str]  # the columns of the full-reference teachers
    within: dict[str, float]  # reliability within content
    across: dict[str, float]  # reliability across contents
    weights: tuple[np.ndarray, np.ndarray]  # (within, across) weight per column
    n_configured: int  # the first columns are the configured (weak) teachers

    @classmethod
    def of_round(cls, pool: Labels, oof: list[np.ndarray], dist: pd.DataFrame, config: RunConfig) -> Teachers:
        """Student j scores the pool out of fold (each item by a head that never saw its content):
        in-sample, a head on frozen features only hands back the pairs it was fitted to."""
        from teachers import teacher_class

        scores = pool.items.copy()
        columns = [score_column(t) for t in config.teacher_names()]
        full_reference = {score_column(t) for t in config.teacher_names() if teacher_class(t).full_reference}
        for j, student_scores in enumerate(oof):
            columns.append(score_column(student_teacher_name(j)))
            scores[columns[-1]] = student_scores
        within = teacher_reliability(scores, columns, dist, pool.index)
        across = across_reliability(scores, columns, full_reference, config.seed, config.pairs.reliability_pairs)
        if config.pairs.ensemble == "reliability":
            weights = (reliability_weights(within), reliability_weights(across))
        else:
            weights = (np.ones(len(columns)), np.ones(len(columns)))
        if config.pairs.student_votes == "within":
            n = len(config.teacher_names())
            weights = (weights[0], np.concatenate([weights[1][:n], np.zeros(len(columns) - n)]))
        return cls(scores, columns, full_reference, within, across, weights, len(config.teacher_names()))

    def select(self, full_reference: bool = False, weak_only: bool = False) -> tuple[list[str], tuple]:
        """Columns (full-reference ones, or the others) and their (within, across) weights."""
        keep = [i for i, c in enumerate(self.columns)
                if (c in self.full_reference) == full_reference and (not weak_only or i < self.n_configured)]
        return [self.columns[i] for i in keep], tuple(w[keep] for w in self.weights)

    def consensus(self, items: pd.DataFrame | None = None, full_reference: bool = False,
                  weak_only: bool = False) -> np.ndarray:
        """Per-item score of the ensemble (across-contents weights: it ranks items of any content)."""
        columns, (_, across) = self.select(full_reference, weak_only)
        return ensemble_score(teacher_matrix(self.scores if items is None else items, columns), across)

    def prior(self, config: RunConfig) -> TeacherPrior | None:
        """The configured no-reference teachers' ensemble, on this round's pool, as a student's base
        (``student.prior: teachers``); None without one."""
        if config.student.prior == "none":
            return None
        columns, (_, across) = self.select(weak_only=True)
        specs = dict(config.teacher_specs())
        names = [t for t in config.teacher_names() if score_column(t) in columns]
        options = {t: {k: v for k, v in specs[t].items() if k != "variant_share"} for t in names}
        return TeacherPrior.fit({t: self.scores[score_column(t)].to_numpy() for t in names},
                                dict(zip(names, across)), options)

    def summary(self) -> dict:
        w_within, w_across = self.weights
        return {"reliability": self.within, "reliability_across": self.across,
                "weights": dict(zip(self.columns, w_within.tolist())),
                "weights_across": dict(zip(self.columns, w_across.tolist())),
                "full_reference": sorted(self.full_reference)}


def build_pairs(pool: Labels, teachers: Teachers, dist: pd.DataFrame, previous: pd.DataFrame | None,
                config: RunConfig, k: int) -> pd.DataFrame:
    """Teacher pairs (the same draw every round, labelled by the round's ensemble), pairs of
    variants labelled by the full-reference teachers, distortion pairs, the hard cases of earlier
    rounds and those the last student gets wrong out of fold."""
    columns, weights = teachers.select()
    parts = [teacher_pairs(teachers.scores, columns, weights, config.pairs.teacher_pairs, config.seed,
                           config.pairs.min_confidence)]
    fr_columns, fr_weights = teachers.select(full_reference=True)
    if fr_columns and config.pairs.fr_pairs:
        variants = np.flatnonzero((pool.items.family != "").to_numpy())
        parts.append(teacher_pairs(teachers.scores, fr_columns, fr_weights, config.pairs.fr_pairs, config.seed + 1,
                                   config.pairs.min_confidence, rows=variants, source="fr",
                                   within_content=config.pairs.fr_scope == "within"))
    parts = [p.assign(round=k) for p in [*parts, dist]]
    if k > 0:
        parts.append(previous[previous.source.str.startswith("hard_")])  # keeping the round they were found in
        oof = teachers.scores[teachers.columns[-1]].to_numpy()
        parts.append(mine_hard_cases(pool, previous, oof, teachers, config, k))
    return pd.concat(parts, ignore_index=True)


def train_student(pool: Labels, pairs: pd.DataFrame, config: RunConfig, k: int, accelerator,
                  checkpoint: Path | None = None):
    """The round-k student's head; ``checkpoint``: the folder of its training state (resumed from if there)."""
    head, history = train_head(pool.features, pairs, pool.index, config.student, config.train, config.seed + k,
                               accelerator, base=pool.base, blocks=pool.blocks, checkpoint=checkpoint)
    head.history = history  # written beside the student (train_log.json)
    head.prior = pool.prior  # saved with the student: it scores base + prior + residual
    return head


def load_head(path: Path):
    from students.student import Student

    student = Student.from_pretrained(path)
    student.head.prior = student.prior
    return student.head


def score_labels(head, labels: Labels) -> np.ndarray:
    """A head's student scores of labelled items: its residual on their features plus their base
    (with the prior the head was trained on)."""
    labels = labels.with_prior(head.prior)
    return score_items(head, labels.features, labels.base)


def evaluate_round(evalset: Labels, heads: list, teachers: Teachers, weak: Teachers, config: RunConfig,
                   out: Path, others: dict | None = None) -> dict:
    """Each teacher, the ensembles and every student so far on the held-out set.

    ``weak`` are round 0's teachers: the weak ensemble keeps their weights in every round (later
    rounds re-measure the weak teachers' reliability against the students too), so that it is the
    same yardstick for every student."""
    items = evalset.items.copy()
    models = {t: items[score_column(t)].to_numpy() for t in config.teacher_names()}
    # the weak no-reference teachers' ensemble (what round 0 learns from; a full-reference teacher
    # sees the clean clip, which a no-reference model never does) and, from round 1 on, the
    # ensemble of this round's no-reference teachers, which includes every earlier student
    models["ensemble"] = weak.consensus(items, weak_only=True)
    student_scores = {student_teacher_name(j): score_labels(h, evalset) for j, h in enumerate(heads)}
    items = items.assign(**{score_column(name): s for name, s in student_scores.items()})
    if len(heads) > 1 and config.pairs.student_votes == "both":
        # (with student_votes: within the students weigh nothing across contents, so this row would
        # be the weak teachers again under another name)
        models["ensemble + students"] = teachers.consensus(items)
    models.update(student_scores)
    models.update(others or {})  # scores computed elsewhere, e.g. the comparative student's (w2s.comparative)
    io.write_parquet(items.drop(columns=["params"]).assign(**{f"model:{m}": s for m, s in models.items()}),
                     out / "scores.parquet")
    id_families = list(config.eval.in_distribution or config.distortions)
    return {name: evaluate_scores(s, items, id_families, list(config.eval.ood)) for name, s in models.items()}


def results_table(results: dict, teachers: Teachers | dict) -> pd.DataFrame:
    """One row per model; a teacher's reliability within content and across contents beside it."""
    summary = teachers.summary() if isinstance(teachers, Teachers) else teachers
    within, across = summary["reliability"], summary.get("reliability_across", {})
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "model": name,
                "within": within.get(score_column(name), np.nan),
                "across": across.get(score_column(name), np.nan),
                "ID SRCC": r.get("id_srcc", np.nan),
                "OOD SRCC": r.get("ood_srcc", np.nan),
                "VMAF SRCC": r.get("vmaf_srcc", np.nan),
                "VMAF PLCC": r.get("vmaf_plcc", np.nan),
            }
        )
    return pd.DataFrame(rows)
