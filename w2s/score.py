"""Score files or folders with a saved student or any teacher."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _entries(inputs: list[str]) -> tuple[list[str], list[dict]]:
    """Files to score, and failed rows for the folders that hold none.

    Folders and .csv/.jsonl lists expand; a missing file stays, to fail in its
    row. One empty folder among other inputs is a failed row, not the end of
    the command; nothing at all to score is an error.
    """
    from w2s.errors import W2SError
    from w2s.media.scan import scan_pool

    out, empty = [], []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir() and len(inputs) > 1:
            try:
                out += [e.path for e in scan_pool(path)]
            except W2SError as e:  # a folder fails only for having nothing in it
                empty.append({"path": str(path), "score": np.nan, "status": "failed", "error": str(e)})
        elif path.is_dir() or path.suffix.lower() in (".csv", ".jsonl"):
            out += [e.path for e in scan_pool(path)]
        else:
            out.append(str(path))
    if not out:
        raise W2SError(f"nothing to score in {', '.join(inputs)}: no videos or images; give files, folders of them, "
                       "or a .csv/.jsonl list")
    return out, empty


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

    paths, empty = _entries(inputs)
    df = load(model, sampler=sampler_spec, max_side=max_side).score_files(paths)
    return pd.concat([df, pd.DataFrame(empty, columns=df.columns)], ignore_index=True) if empty else df
