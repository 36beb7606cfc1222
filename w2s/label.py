"""The label stage: decode each video once, then everything that needs pixels.

For every pool video: sample its frames once; make every distortion's variants
from params drawn from a stable seed; let every pixel teacher score the clean
clip and each variant; embed each with the frozen backbone. Pixels are then
dropped: only params, scores and features are kept, one shard per video, so a
killed stage resumes at the next unfinished video, and one unreadable video is
recorded in ``failures`` without stopping the others.
"""

from __future__ import annotations

import json
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from w2s import io
from w2s.errors import W2SError
from w2s.media.clip import Clip, variant_id
from w2s.media.decode import read_clip

log = logging.getLogger(__name__)


def stable_seed(*parts) -> int:
    """A seed from names, the same in every process and on every machine (unlike hash())."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def score_column(teacher_name: str) -> str:
    return f"score:{teacher_name}"


@dataclass
class LabelJob:
    """What the label stage does to every video."""

    sampler: object
    max_side: int
    seed: int
    distortions: dict  # family -> Distortion
    teachers: dict  # config name -> pixel teacher (Teacher protocol); the name keys its score column
    backbone: object  # Backbone protocol
    vmaf_families: set = field(default_factory=set)  # families scored with VMAF vs the clean clip


def _items_of(clip: Clip, job: LabelJob):
    """The clean clip, then each variant in (family, level) order, made one at a time."""
    yield clip, None, 0, {}
    for family, distortion in job.distortions.items():
        seed = stable_seed(job.seed, clip.id, family)
        for level in range(1, distortion.levels + 1):
            params = distortion.params(level, seed)
            variant = distortion.apply(clip, params)
            # teachers see the variant's own id (a score table must not hand it the clean clip's score)
            variant = variant.with_frames(variant.frames, id=variant_id(clip.id, family, level), family=family, level=level)
            yield variant, family, level, params


def label_video(video_id: str, clip: Clip, job: LabelJob) -> tuple[pd.DataFrame, torch.Tensor]:
    """Rows (one per item: the clean clip and each variant) and their features, from one decoded clip."""
    rows, features = [], []
    for item, family, level, params in _items_of(clip, job):
        row = {
            "item_id": video_id if family is None else variant_id(video_id, family, level),
            "video_id": video_id,
            "family": family or "",
            "level": level,
            "params": json.dumps(params, sort_keys=True),
        }
        for name, teacher in job.teachers.items():
            row[score_column(name)] = float(teacher.score(item))
        if family in job.vmaf_families:
            from w2s.media.vmaf import vmaf

            row["vmaf"] = vmaf(clip, item)
        rows.append(row)
        features.append(job.backbone.embed(item).float())
    return pd.DataFrame(rows), torch.stack(features)


def label_pool(manifest: pd.DataFrame, folder: Path, job: LabelJob, desc: str = "label", accelerator=None) -> None:
    """Label every ok video of the manifest into ``folder`` (resumable), then consolidate.

    Under several processes each takes every world_size-th video; the main
    process consolidates once all are through.
    """
    folder = Path(folder)
    if io.is_done(folder):
        return
    rank = accelerator.process_index if accelerator else 0
    world = accelerator.num_processes if accelerator else 1
    shards = folder / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    todo = manifest[manifest.status == "ok"]
    mine = [
        (vid, path) for vid, path in list(zip(todo.id, todo.path))[rank::world]
        if not (shards / f"{vid}.parquet").exists() and not (shards / f"{vid}.failed.json").exists()
    ]

    def decode(video_id: str, path: str) -> Clip:
        return read_clip(path, job.sampler, max_side=job.max_side or None, clip_id=video_id)

    # decode the next video in a thread while this one is labelled (PyAV releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(decode, *mine[0]) if mine else None
        for n, (video_id, path) in enumerate(tqdm(mine, desc=desc, unit="video", disable=rank != 0)):
            current = upcoming
            upcoming = pool.submit(decode, *mine[n + 1]) if n + 1 < len(mine) else None
            try:
                clip = current.result()
                rows, feats = label_video(video_id, clip, job)
            except Exception as e:  # one bad video never stops the pool
                log.warning("skipping %s: %s", path, e)
                failure = {"id": video_id, "path": path, "stage": desc, "error": f"{type(e).__name__}: {e}"}
                io.write_json(failure, shards / f"{video_id}.failed.json")
                continue
            # features first: a shard counts as finished only once its parquet exists
            io.write_tensors({"features": feats}, shards / f"{video_id}.safetensors")
            io.write_parquet(rows, shards / f"{video_id}.parquet")
    for teacher in job.teachers.values():
        if hasattr(teacher, "close"):  # e.g. a score table reports the pool items it lacked
            teacher.close()
    if accelerator:
        accelerator.wait_for_everyone()
    if rank == 0:
        _consolidate(todo.id, shards, folder)
        io.mark_done(folder)
    if accelerator:
        accelerator.wait_for_everyone()


def _consolidate(video_ids, shards: Path, folder: Path) -> None:
    frames, feats, failures = [], [], []
    for vid in video_ids:
        if (shards / f"{vid}.parquet").exists():
            frames.append(pd.read_parquet(shards / f"{vid}.parquet"))
            feats.append(io.read_tensors(shards / f"{vid}.safetensors")["features"])
        elif (shards / f"{vid}.failed.json").exists():
            failures.append(json.loads((shards / f"{vid}.failed.json").read_text()))
    if not frames:
        raise W2SError(f"no video of the pool could be labelled; see {shards}/*.failed.json")
    io.write_parquet(pd.concat(frames, ignore_index=True), folder / "items.parquet")
    io.write_tensors({"features": torch.cat(feats)}, folder / "features.safetensors")
    io.write_parquet(pd.DataFrame(failures, columns=["id", "path", "stage", "error"]), folder / "failures.parquet")


def load_labels(folder: Path) -> tuple[pd.DataFrame, torch.Tensor]:
    """Items (one row each, in feature order) and their features (N, dim)."""
    items = pd.read_parquet(Path(folder) / "items.parquet")
    features = io.read_tensors(Path(folder) / "features.safetensors")["features"]
    return items, features
