"""Score files or folders with a saved student or any teacher."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from w2s.api import load, scale_100
from w2s.core.errors import W2SError

__all__ = ["scale_100", "score_paths"]  # scale_100 lives in w2s.api (the Scorer applies it); here for `w2s score`'s callers

log = logging.getLogger(__name__)


def _entries(inputs: list[str]) -> tuple[list[str], list[dict]]:
    """Files to score, and failed rows for the folders that hold none.

    Folders and .csv/.jsonl lists expand; a missing file stays, to fail in its
    row. One empty folder among other inputs is a failed row, not the end of
    the command; nothing at all to score is an error.
    """
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


def score_paths(model: str, inputs: list[str], sampler_spec: dict | None = None, max_side: int | None = None) -> pd.DataFrame:
    """One row per input: path, score (raw, higher is better), score_100, status, error (:meth:`w2s.api.Scorer.score_files`)."""
    paths, empty = _entries(inputs)
    df = load(model, sampler=sampler_spec, max_side=max_side).score_files(paths)
    return pd.concat([df, pd.DataFrame(empty, columns=df.columns)], ignore_index=True) if empty else df
