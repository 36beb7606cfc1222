"""Score files or folders with a saved student or any teacher."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from w2s.errors import W2SError

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
    from teachers import make_teacher

    if Path(model).is_dir():
        from teachers.student_teacher import StudentTeacher

        teacher = StudentTeacher(model, name=model)
        meta = teacher.student.meta
        return teacher, meta.get("sampler"), meta.get("max_side"), meta.get("train_score_quantiles")
    if ":" not in model:
        raise W2SError(f"--model {model!r} is neither a student folder nor a teacher name like pyiqa:piqe")
    return make_teacher(model), None, None, None


def score_paths(model: str, inputs: list[str], sampler_spec: dict | None = None, max_side: int | None = None) -> pd.DataFrame:
    """One row per input: path, score (raw, higher is better), score_100, status, error."""
    from w2s.media.decode import read_clip
    from w2s.media.samplers import make_sampler

    scorer, saved_sampler, saved_side, quantiles = load_scorer(model)
    sampler = make_sampler(sampler_spec or saved_sampler or {"name": "uniform", "num_frames": 8})
    side = max_side if max_side is not None else saved_side
    rows = []
    for path in tqdm(_entries(inputs), desc="score", unit="file"):
        try:
            clip = read_clip(path, sampler, max_side=side or None)
            rows.append({"path": path, "score": float(scorer.score(clip)), "status": "ok", "error": ""})
        except Exception as e:  # one bad file never stops the others; its reason goes in its row
            log.warning("cannot score %s: %s", path, e)
            rows.append({"path": path, "score": np.nan, "status": "failed", "error": str(e)})
    df = pd.DataFrame(rows, columns=["path", "score", "status", "error"])
    df.insert(2, "score_100", scale_100(df.score.to_numpy(), quantiles))
    return df
