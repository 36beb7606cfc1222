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
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from w2s.api import load
from w2s.core import io
from w2s.core.errors import W2SError
from w2s.core.finite import finite_score
from w2s.core.progress import progress
from w2s.labelled.set import FAILURE_COLUMNS, LabelledSet
from w2s.media.decode import read_clip
from w2s.study.bootstrap import metrics_with_ci

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["id", "path", "mos", "target", "score", "status", "error"]
CACHE = "scores.partial.jsonl"
CACHE_SETTINGS = "scores.partial.settings.json"

Key = tuple[str, str]  # a video of a labelled set: (id, path), as text


def video_keys(labelled: LabelledSet) -> list[Key]:
    """Each usable video's (id, path) as text, in the label file's order: what its cached result is kept under."""
    videos = labelled.videos.reset_index(drop=True)
    return [(str(i), str(p)) for i, p in zip(videos["id"], videos["path"], strict=True)]


def each_video(keys: list[Key], work: Callable[[str], object], verb: str, name: str,
               errors: dict[Key, str]) -> Iterator[tuple[Key, object]]:
    """``(key, work(path))`` for each video of ``keys`` as it is done. One that raises has its reason kept
    in ``errors`` (shown once, in the failures table; -v logs it as it happens), and the others go on (a
    KeyboardInterrupt, not an Exception, stops them)."""
    for key in progress(keys, f"{verb} {name}", "video"):
        try:
            value = work(key[1])
        except Exception as e:  # noqa: BLE001 - one bad video never stops the others; its reason is kept
            log.debug("cannot %s %s: %s", verb, key[1], e, exc_info=True)
            errors[key] = str(e) or type(e).__name__
            continue
        yield key, value


def failure_table(labelled: LabelledSet, left_out: pd.DataFrame) -> pd.DataFrame:
    """The label file's unusable rows, then ``left_out`` (id, path, reason): every video left out, in one table."""
    parts = [p.reindex(columns=FAILURE_COLUMNS) for p in (labelled.failures, left_out) if len(p)]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FAILURE_COLUMNS)
    # parquet wants one type per column: ids and paths as text (the two may differ in type); a missing one stays missing
    return df.apply(lambda col: col.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)))


def _cache_line(key: Key, score: float) -> str:
    return json.dumps({"id": key[0], "path": key[1], "score": score}) + "\n"


def _read_cache(path: Path) -> dict[Key, float]:
    """Scores already computed, by (id, path).

    A line cut short by a kill is dropped and the cache rewritten without it, so
    the lines appended next do not run on from the broken one.
    """
    done: dict[Key, float] = {}
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
    return finite_score(scorer.score(read_clip(path, sampler, max_side=side or None)), path)  # the one rule: w2s.core.finite


def _score_missing(scorer, todo: list[Key], done: dict[Key, float], cache_path: Path, sampler, side: int | None,
                   name: str) -> dict[Key, str]:
    """Score each video of ``todo`` into ``done``, each score appended to the cache as it comes; returns
    the reasons of the videos that could not be scored."""
    errors: dict[Key, str] = {}
    with cache_path.open("a") as cache:
        for key, score in each_video(todo, lambda path: _score_one(scorer, path, sampler, side), "score", name, errors):
            done[key] = score
            cache.write(_cache_line(key, score))
            cache.flush()  # the line survives a kill of this process (no fsync: not a power cut)
    return errors


def _score_table(labelled: LabelledSet, keys: list[Key], done: dict[Key, float], errors: dict[Key, str]) -> pd.DataFrame:
    """One row per usable video, in the label file's order (SCORE_COLUMNS)."""
    videos = labelled.videos.reset_index(drop=True)
    return pd.DataFrame(
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


def _metrics(scores: pd.DataFrame, labelled: LabelledSet, n_left_out: int, n_boot: int, seed: int, **about) -> dict:
    """:func:`metrics_with_ci` on the scored videos, with the counts and ``about`` (model, dataset, settings)."""
    ok = scores.status == "ok"
    metrics = metrics_with_ci(scores.score[ok], scores.target[ok], n_boot=n_boot, seed=seed)
    metrics.update(n_videos=len(scores) + len(labelled.failures), n_scored=int(ok.sum()), n_left_out=n_left_out,
                   **about)
    return metrics


def evaluate_model(
    model: str,
    labelled: LabelledSet,
    out: Path,
    sampler_spec: dict | None = None,
    max_side: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    scorer=None,
    device: str = "auto",
) -> dict:
    """Score every video of ``labelled`` with ``model`` and write scores, failures and metrics to ``out``.

    ``model`` is a student folder or a teacher name, as ``w2s score --model``
    takes it (``scorer``, if given, scores in its place: anything with ``.score(clip)``); frames are
    sampled as ``w2s score`` samples them (``sampler_spec`` and ``max_side`` override the student's
    saved ones). A rerun on the same ``out`` reuses every score in the cache and scores only the rest;
    videos that failed are tried again. ``device``: where the model runs (:func:`w2s.core.device.resolve_device`).
    Returns the dict written to ``metrics.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load(model, device=device, sampler=sampler_spec, max_side=max_side)  # reads frames as `w2s score` does
    sampler, side = loaded.sampler, loaded.max_side
    _check_settings(out, {"model": model, "sampler": sampler.spec(), "max_side": side})

    done = _read_cache(out / CACHE)
    keys = video_keys(labelled)
    todo = [k for k in keys if k not in done]
    log.info("%s on %s: %d videos, %d already scored", model, labelled.name, len(keys), len(keys) - len(todo))
    # a study hands in `scorer`: students that share one embedding per video
    errors = _score_missing(scorer or loaded.model, todo, done, out / CACHE, sampler, side, labelled.name)

    scores = _score_table(labelled, keys, done, errors)
    bad = scores[scores.status == "failed"]
    failures = failure_table(labelled, pd.DataFrame({"id": bad.id, "path": bad.path, "reason": bad.error}))
    metrics = _metrics(scores, labelled, len(failures), n_boot, seed, model=model, dataset=labelled.name,
                       lower_better=labelled.lower_better, sampler=sampler.spec(), max_side=side)
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
