"""Score a labelled set with one model and measure it against the human scores.

``evaluate_model`` writes, under ``out``:

- ``scores.parquet``: one row per usable video (id, path, mos, target, score,
  status, error), in the label file's order;
- ``failures.parquet``: every video left out (id, path, reason): the label
  file's unusable rows and the videos that could not be decoded or scored;
- ``metrics.json``: :func:`~w2s.study.bootstrap.metrics_with_ci` on the scored
  videos, plus counts, model and dataset;
- ``scores.partial.jsonl``: the resume cache, one line per scored video,
  flushed as each is done, so a killed run loses at most the video in flight.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from w2s import io
from w2s.errors import W2SError
from w2s.labelled.set import FAILURE_COLUMNS, LabelledSet
from w2s.media.decode import read_clip
from w2s.media.samplers import make_sampler
from w2s.score import load_scorer
from w2s.study.bootstrap import metrics_with_ci

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["id", "path", "mos", "target", "score", "status", "error"]
CACHE = "scores.partial.jsonl"
CACHE_SETTINGS = "scores.partial.settings.json"
DEFAULT_SAMPLER = {"name": "uniform", "num_frames": 8}  # what `w2s score` uses without a saved one


def _cache_line(key: tuple[str, str], score: float) -> str:
    return json.dumps({"id": key[0], "path": key[1], "score": score}) + "\n"


def _read_cache(path: Path) -> dict[tuple[str, str], float]:
    """Scores already computed, by (id, path).

    A line cut short by a kill is dropped and the cache rewritten without it, so
    the lines appended next do not run on from the broken one.
    """
    done: dict[tuple[str, str], float] = {}
    if not path.is_file():
        return done
    text = path.read_text()
    broken = 0
    for line in text.splitlines():
        try:
            row = json.loads(line)
            done[(row["id"], row["path"])] = float(row["score"])
        except (ValueError, KeyError, TypeError):
            broken += 1
    if broken or not text.endswith("\n"):
        if broken:
            log.warning("dropping %d unreadable line(s) of %s (a run killed mid-write)", broken, path)
        io.write_text("".join(_cache_line(k, v) for k, v in done.items()), path)
    return done


def _check_settings(out: Path, settings: dict) -> None:
    """Refuse to resume from a cache that another model or frame sampling wrote."""
    path = out / CACHE_SETTINGS
    if path.is_file() and (out / CACHE).is_file():
        saved = io.read_json(path)
        if saved != settings:
            raise W2SError(
                f"{out} holds scores from other settings ({saved}), not {settings}: "
                f"use another output folder or delete {out / CACHE}"
            )
    io.write_json(settings, path)


def _score_one(scorer, path: str, sampler, side: int | None) -> float:
    # clip id left at its default (the file stem), as `w2s score` does, so a fragments
    # sampler places its patches the same way and both give the same number
    score = float(scorer.score(read_clip(path, sampler, max_side=side or None)))
    if not np.isfinite(score):
        raise ValueError(f"the model gave a non-finite score ({score})")
    return score


def _failures(labelled: LabelledSet, scores: pd.DataFrame) -> pd.DataFrame:
    """Label failures and scoring failures in one table; ids as text (the two may differ in type)."""
    bad = scores[scores.status == "failed"]
    parts = [
        labelled.failures.reindex(columns=FAILURE_COLUMNS),
        pd.DataFrame({"id": bad.id, "path": bad.path, "reason": bad.error}),
    ]
    parts = [p for p in parts if len(p)]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FAILURE_COLUMNS)
    # parquet wants one type per column; a missing id or path stays missing
    return df.apply(lambda col: col.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)))


def evaluate_model(
    model: str,
    labelled: LabelledSet,
    out: Path,
    sampler_spec: dict | None = None,
    max_side: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    scorer=None,
) -> dict:
    """Score every video of ``labelled`` with ``model`` and write scores, failures and metrics to ``out``.

    ``model`` is a student folder or a teacher name, as ``w2s score --model``
    takes it (``scorer``, if given, scores in its place: anything with ``.score(clip)``); frames are sampled as ``w2s score`` samples them (``sampler_spec``
    and ``max_side`` override the student's saved ones). A rerun on the same
    ``out`` reuses every score in the cache and scores only the rest; videos
    that failed are tried again. Returns the dict written to ``metrics.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded, saved_sampler, saved_side, _ = load_scorer(model)
    scorer = scorer or loaded  # a study hands in students that share one embedding per video
    sampler = make_sampler(sampler_spec or saved_sampler or DEFAULT_SAMPLER)
    side = max_side if max_side is not None else saved_side
    _check_settings(out, {"model": model, "sampler": sampler.spec(), "max_side": side})

    cache_path = out / CACHE
    done = _read_cache(cache_path)
    videos = labelled.videos.reset_index(drop=True)
    keys = [(str(i), str(p)) for i, p in zip(videos["id"], videos["path"])]
    todo = [k for k in keys if k not in done]
    log.info("%s on %s: %d videos, %d already scored", model, labelled.name, len(keys), len(keys) - len(todo))

    errors: dict[tuple[str, str], str] = {}
    with cache_path.open("a") as cache:
        for key in tqdm(todo, desc=f"score {labelled.name}", unit="video"):
            try:
                done[key] = _score_one(scorer, key[1], sampler, side)
            except Exception as e:
                log.warning("cannot score %s: %s", key[1], e, exc_info=log.isEnabledFor(logging.DEBUG))  # -v: where
                errors[key] = str(e) or type(e).__name__
                continue
            cache.write(_cache_line(key, done[key]))
            cache.flush()  # the line survives a kill of this process (no fsync: not a power cut)

    scores = pd.DataFrame(
        {
            "id": videos["id"],
            "path": videos["path"].astype(str),
            "mos": videos["mos"].astype(np.float64),
            "target": labelled.target,
            "score": [done.get(k, np.nan) for k in keys],
            "status": ["failed" if k in errors else "ok" for k in keys],
            "error": [errors.get(k, "") for k in keys],
        },
        columns=SCORE_COLUMNS,
    )
    failures = _failures(labelled, scores)
    ok = scores.status == "ok"
    metrics = metrics_with_ci(scores.score[ok], scores.target[ok], n_boot=n_boot, seed=seed)
    metrics.update(
        n_videos=len(scores) + len(labelled.failures),
        n_scored=int(ok.sum()),
        n_left_out=len(failures),
        model=model,
        dataset=labelled.name,
        lower_better=labelled.lower_better,
        sampler=sampler.spec(),
        max_side=side,
    )
    io.write_parquet(scores, out / "scores.parquet")
    io.write_parquet(failures, out / "failures.parquet")
    io.write_json(metrics, out / "metrics.json")
    if len(failures):
        log.warning("%d of %d videos left out; reasons in %s", len(failures), metrics["n_videos"], out / "failures.parquet")
    log.info(
        "%s on %s: SRCC %.3f [%.3f, %.3f] over %d videos",
        *(model, labelled.name, metrics["srcc"], metrics["srcc_lo"], metrics["srcc_hi"], metrics["n"]),
    )
    return metrics
