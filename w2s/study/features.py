"""A saved student's features and base of each video of a labelled set, cached (``w2s calibrate``).

``embed_set`` embeds every readable video once: the features and base (the
backbone's own score plus the student's teacher prior, if it has one) go to
``features.safetensors`` with the ids, paths and the settings that made them in
its metadata, rewritten every :data:`FLUSH_EVERY` videos, so that a rerun, or a
run after a kill, embeds only what is missing; a cache other settings wrote is
refused. Every video left out goes to ``failures.parquet`` (id, path, reason).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open

from w2s.api import saved_reading
from w2s.core import io
from w2s.core.errors import W2SError
from w2s.labelled.set import FAILURE_COLUMNS, LabelledSet
from w2s.study.model_eval import Key, each_video, failure_table, video_keys

log = logging.getLogger(__name__)

FEATURES = "features.safetensors"
FLUSH_EVERY = 64  # videos embedded between cache writes: a killed run loses at most these


def _settings(student, sampler, side) -> dict:
    """What the cached features depend on: the perception, the prior and how frames are read (not the head)."""
    return json.loads(json.dumps({
        "backbone": student.backbone_name,
        "backbone_options": student.backbone_options,
        "extras": student.extras,
        "prior": student.prior.to_dict() if student.prior is not None else None,
        "sampler": sampler.spec(),
        "max_side": side,
    }))


def _read_cache(path: Path, settings: dict) -> dict[tuple[str, str], tuple[torch.Tensor, float]]:
    """(features, base) already embedded, by (id, path); refuses a cache other settings wrote."""
    if not path.is_file():
        return {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        features, base = f.get_tensor("features"), f.get_tensor("base")
    saved = json.loads(meta.get("settings", "null"))
    if saved != settings:
        raise W2SError(
            f"{path} holds features from other settings ({saved}), not {settings}: "
            "use another output folder or delete the file"
        )
    keys = zip(json.loads(meta["ids"]), json.loads(meta["paths"]), strict=True)
    return {k: (features[i], float(base[i])) for i, k in enumerate(keys)}


def _write_cache(path: Path, done: dict, settings: dict) -> None:
    """One file, written atomically: ids and settings travel in its metadata, so they cannot disagree."""
    if not done:
        return
    keys = list(done)
    tensors = {
        "features": torch.stack([done[k][0] for k in keys]).float().contiguous(),
        "base": torch.tensor([done[k][1] for k in keys], dtype=torch.float64),
    }
    meta = {"ids": json.dumps([k[0] for k in keys]), "paths": json.dumps([k[1] for k in keys]),
            "settings": json.dumps(settings)}
    io.write_tensors(tensors, path, metadata=meta)


def _embedder(student):
    """``clip -> (features, base)`` as :meth:`Student.embed` gives them, checked finite."""

    def embed(clip) -> tuple[torch.Tensor, float]:
        features, base = student.embed(clip)
        features = features.float().cpu()
        if not torch.isfinite(features).all() or not math.isfinite(base):
            raise ValueError("the student's perception gave non-finite features or base")
        return features, float(base)

    return embed


def embed_set(student, labelled: LabelledSet, out: Path) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    """Every readable video's features and base, from the cache where it has them.

    Returns (videos: id, path, target of the usable ones in the label file's order;
    features (N, dim); base (N,) float64), and writes ``failures.parquet``.
    """
    from w2s.media.samplers import make_sampler

    # frames are read as `w2s score` and w2s.study.model_eval read them for this student
    sampler_spec, side = saved_reading(student.meta)
    sampler = make_sampler(sampler_spec)
    settings = _settings(student, sampler, side)
    done = _read_cache(out / FEATURES, settings)
    keys = video_keys(labelled)
    todo = [k for k in keys if k not in done]
    log.info("%s: %d videos, %d embedded before", labelled.name, len(keys), len(keys) - len(todo))

    errors = _embed_missing(student, todo, done, out / FEATURES, settings, sampler, side, labelled.name)
    left_out = pd.DataFrame([(k[0], k[1], r) for k, r in errors.items()], columns=FAILURE_COLUMNS)
    io.write_parquet(failure_table(labelled, left_out), out / "failures.parquet")
    if errors:
        log.warning("%d of %d videos could not be embedded; reasons in %s", len(errors), len(keys), out / "failures.parquet")

    ok = [i for i, k in enumerate(keys) if k in done]
    table = pd.DataFrame({"id": [keys[i][0] for i in ok], "path": [keys[i][1] for i in ok],
                          "target": labelled.target[ok]})
    features = torch.stack([done[keys[i]][0] for i in ok]) if ok else torch.empty(0, 0)
    base = torch.tensor([done[keys[i]][1] for i in ok], dtype=torch.float64)
    return table, features, base


def _embed_missing(student, todo: list[Key], done: dict, cache: Path, settings: dict, sampler, side: int | None,
                   name: str) -> dict[Key, str]:
    """Embed each video of ``todo`` into ``done``, the cache rewritten every FLUSH_EVERY videos and at the
    end; returns the reasons of the videos that could not be embedded."""
    from w2s.media.decode import read_clip

    embed = _embedder(student)
    errors: dict[Key, str] = {}

    def work(path: str):
        # clip id left at its default (the file stem), as `w2s score` reads it: a fragments
        # sampler then places its patches where the saved student's scoring will
        return embed(read_clip(path, sampler, max_side=side or None))

    fresh = 0
    for fresh, (key, value) in enumerate(each_video(todo, work, "embed", name, errors), start=1):
        done[key] = value
        if fresh % FLUSH_EVERY == 0:
            _write_cache(cache, done, settings)
    if fresh:
        _write_cache(cache, done, settings)
    return errors
