"""The pool's labels: one row per item (clean clip or variant) with every teacher's score, and
the items' frozen features; what every stage after the label stage reads."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from students.prior import TeacherPrior
from w2s.core import io
from w2s.core.names import score_column
from w2s.run.pairs import distortion_pairs, item_index


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

    def of_run(self, config) -> Labels:
        """The items a run trains on: the clean clips and the variants of its training families (a label
        stage may hold more, e.g. after a family was dropped from the config)."""
        return self.restrict(set(config.training_families()))

    def distortion_pairs(self, config) -> pd.DataFrame:
        """The pairs of known order among the variants of the run's distortion families (teacher-only
        families have none): a lower level is better, within one content and family."""
        items = self.restrict(set(config.distortions)).items
        return distortion_pairs(items, config.pairs.gap1_p, config.pairs.gap2_p)

    def write_scores(self, scores: np.ndarray, path: Path) -> None:
        io.write_parquet(pd.DataFrame({"item_id": self.items.item_id, "score": scores}), path)

    def read_scores(self, path: Path) -> np.ndarray:
        return pd.read_parquet(path).set_index("item_id").score.reindex(self.items.item_id).to_numpy()

