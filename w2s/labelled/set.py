"""A labelled set: videos with human opinion scores, as a study reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FAILURE_COLUMNS = ["id", "path", "reason"]


@dataclass
class LabelledSet:
    """Videos of one human-rated set, ready to score.

    ``videos`` has one row per usable video: ``id`` (unique, as the label file
    names it), ``path`` (an existing file) and ``mos`` (the file's own number,
    on its own scale). ``failures`` holds every row of the label file that
    could not be used (``id``, ``path``, ``reason``), so a report can say how
    many were left out and why.
    """

    name: str
    videos: pd.DataFrame
    lower_better: bool = False  # DMOS: a lower number is better quality
    mos_range: tuple[float, float] | None = None  # the scale the file's scores use, for plots
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    root: Path | None = None
    score_name: str = "MOS"  # what the scores are, as tables and plots name them (DMOS, a VMAF proxy, ...)

    @property
    def target(self) -> np.ndarray:
        """The scores oriented higher-is-better (DMOS negated), as every metric reads them."""
        mos = self.videos["mos"].to_numpy(dtype=np.float64)
        return -mos if self.lower_better else mos

    def __len__(self) -> int:
        return len(self.videos)
