"""Score files or folders with a saved student or any teacher."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _entries(inputs: list[str]) -> list[str]:
    """Files to score: folders and .csv/.jsonl lists expand; a missing file stays, to fail in its row."""
    from w2s.media.scan import scan_pool

    out = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir() or path.suffix.lower() in (".csv", ".jsonl"):
            out += [e.path for e in scan_pool(path)]
        else:
            out.append(str(path))
    return out


def scale_100(raw: np.ndarray, quantiles: list[float] | None) -> np.ndarray:
    """Raw student scores on 0-100: the share of the training items scored below.

    Piecewise-linear between the stored percentiles of the student's own
    training items (clean and distorted), clipped to [0, 100]. Monotonic, so it
    ranks exactly as the raw score does.
    """
    if not quantiles:
        return np.full(len(raw), np.nan)
    q = np.asarray(quantiles, dtype=np.float64)
    return np.interp(raw, q, np.linspace(0, 100, len(q)))


def load_scorer(model: str):
    """(scorer with .score(clip), sampler spec, max_side, quantiles) for a student folder or teacher name."""
    from w2s.api import load

    scorer = load(model)
    return scorer.model, scorer.meta["sampler"], scorer.meta["max_side"], scorer.quantiles


def score_paths(model: str, inputs: list[str], sampler_spec: dict | None = None, max_side: int | None = None) -> pd.DataFrame:
    """One row per input: path, score (raw, higher is better), score_100, status, error (:meth:`w2s.api.Scorer.score_files`)."""
    from w2s.api import load

    return load(model, sampler=sampler_spec, max_side=max_side).score_files(_entries(inputs))
