"""A round's teacher panel: the configured teachers and every earlier student (out of fold), with
their reliability on two axes and the weights the ensemble gives them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from students.prior import TeacherPrior
from w2s.config import RunConfig
from w2s.core.names import score_column, student_teacher_name
from w2s.run.labels import Labels
from w2s.run.pairs import ensemble_score, teacher_matrix
from w2s.run.reliability import reliability_weights, two_axes


@dataclass
class TeacherPanel:
    """A round's teachers on the pool: the configured ones, then each earlier student, out of fold.

    Full-reference teachers (``fr:``) label the pairs of distorted variants of
    their own source; the others (and the students) label the teacher pairs.
    Each has a reliability on two axes (:mod:`w2s.run.reliability`) and, with
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
    def of_round(cls, pool: Labels, oof: list[np.ndarray], dist: pd.DataFrame, config: RunConfig) -> TeacherPanel:
        """Student j scores the pool out of fold (each item by a head that never saw its content):
        in-sample, a head on frozen features only hands back the pairs it was fitted to."""
        from teachers import teacher_class

        scores = pool.items.copy()
        columns = [score_column(t) for t in config.teacher_names()]
        full_reference = {score_column(t) for t in config.teacher_names() if teacher_class(t).full_reference}
        for j, student_scores in enumerate(oof):
            columns.append(score_column(student_teacher_name(j)))
            scores[columns[-1]] = student_scores
        within, across = two_axes(scores, columns, full_reference, dist, config, pool.index)
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


