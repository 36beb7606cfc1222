"""The weak teachers' ensemble as the base a student's calibration branch corrects.

A head on frozen features, trained on a pool of a few dozen contents, learns
the pairs it is shown and extrapolates freely where they are silent: across
contents it unlearns what the no-reference teachers knew (on the quickstart
its cross-content VMAF SRCC fell from the ensemble's 0.81 to 0.65, and lower
each round). With ``student.prior: teachers`` the student's score is

    score = prior + base + head(features)

where ``prior`` is the round-0 reliability-weighted mean of the configured
no-reference teachers' standardised scores: the weak ensemble itself. The
branch then learns a *correction* to the teachers, and where its pairs give no
reason to differ it keeps their view. The teachers run again when a saved
student scores a new clip; only cheap, weight-free ones are worth it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class TeacherPrior:
    """Teacher names, their ensemble weights and the pool statistics that standardise their scores."""

    teachers: list[str]
    weights: list[float]
    mean: list[float]
    std: list[float]
    options: list[dict] = field(default_factory=list)  # each teacher's constructor options

    @classmethod
    def fit(cls, scores: dict[str, np.ndarray], weights: dict[str, float],
            options: dict[str, dict] | None = None) -> TeacherPrior:
        """From each teacher's scores of the training pool (NaN: abstained) and its weight."""
        names = list(scores)
        mean = [float(np.nanmean(scores[n])) for n in names]
        std = [float(np.nanstd(scores[n])) or 1.0 for n in names]
        return cls(names, [float(weights[n]) for n in names], mean, std,
                   [dict((options or {}).get(n, {})) for n in names])

    def of_scores(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        """The prior of each item from the teachers' raw scores; a teacher missing an item abstains
        (the others' weights renormalise), and an item no teacher scored gets 0, the pool's mean."""
        z = np.stack([(np.asarray(scores[n], dtype=np.float64) - m) / s
                      for n, m, s in zip(self.teachers, self.mean, self.std)], axis=1)
        w = np.where(np.isnan(z), 0.0, np.asarray(self.weights, dtype=np.float64))
        total = w.sum(axis=1)
        return np.where(total > 0, (np.nan_to_num(z) * w).sum(axis=1) / np.where(total > 0, total, 1.0), 0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> TeacherPrior | None:
        return cls(**data) if data else None


class PriorScorer:
    """Scores one clip's prior with the teachers themselves (how a saved student scores new files)."""

    def __init__(self, prior: TeacherPrior, make_teacher, device: str = "cpu"):
        """``make_teacher(name, device=..., **options)``: ``teachers.make_teacher``, handed over by the
        loader (the students package does not import the teachers)."""
        self.prior = prior
        options = prior.options or [{} for _ in prior.teachers]
        self.teachers = {name: make_teacher(name, device=device, **o) for name, o in zip(prior.teachers, options)}

    def __call__(self, clip) -> float:
        scores = {name: np.array([float(t.score(clip))]) for name, t in self.teachers.items()}
        return float(self.prior.of_scores(scores)[0])
