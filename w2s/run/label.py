"""The label stage: decode each video once, then everything that needs pixels.

For every pool video: sample its frames once; make every distortion's variants
from params drawn from a stable seed; let every pixel teacher score the clean
clip and each variant; embed each with the frozen backbone. Pixels are then
dropped: only params, scores and features are kept, one shard per video, so a
killed stage resumes at the next unfinished video, and one unreadable video is
recorded in ``failures`` without stopping the others.

The items are labelled by worker threads (``LabelJob.workers``, two by
default) that share the teachers and the backbone, so a large model is held
once, each on its share of torch's intra-op threads. On a few cores two
one-thread workers beat one item at a time on two threads: OpenMP costs these
small ops about a fifth more CPU at two threads and stalls whenever a core is
busy elsewhere, and a codec variant leaves its thread waiting on ffmpeg. The
output depends neither on the number of workers nor on their timing; the
features depend, in their last bits, on the intra-op thread count (as they
always did from one machine to another).
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from w2s.core import io
from w2s.core.clip import Clip, variant_id
from w2s.core.errors import ConfigError, W2SError
from w2s.core.names import score_column
from w2s.core.progress import progress as with_progress
from w2s.media.decode import read_clip

log = logging.getLogger(__name__)


def stable_seed(*parts) -> int:
    """A seed from names, the same in every process and on every machine (unlike hash())."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def variant_share(name: str, options: dict) -> float:
    """A teacher's ``variant_share`` option, checked: the share of pool videos whose variants it scores (1: all)."""
    value = options.get("variant_share", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:  # NaN fails too
        raise ConfigError(
            f"teachers: {name} has variant_share {value!r}; variant_share is the fraction of pool videos whose "
            "distorted variants this teacher scores, a number in (0, 1]"
        )
    return float(value)


def share_videos(video_ids, seed: int, teacher_name: str, fraction: float) -> set[str]:
    """The pool videos whose variants a teacher with a ``variant_share`` scores: ceil(fraction * n) of
    them (at least one), those with the smallest stable seed of (run seed, teacher, video), so every
    process, rerun and resume picks the same, and an exact share."""
    ids = sorted(set(video_ids), key=lambda v: (stable_seed(seed, teacher_name, v), v))
    return set(ids[: max(1, math.ceil(fraction * len(ids)))])


@dataclass
class LabelJob:
    """What the label stage does to every video."""

    sampler: object
    max_side: int
    seed: int
    distortions: dict  # family -> Distortion
    # config name -> pixel teacher (Teacher protocol); the name keys its score column. Teachers and
    # backbone are called from several worker threads at once: they must not keep per-call state
    teachers: dict
    backbone: object  # Backbone protocol
    # score the variants of families with `scored_by_vmaf` (codecs) with VMAF against the clean clip
    vmaf: bool = False
    # teacher name -> fraction of the pool's videos whose variants it scores (share_videos); it
    # scores every clean clip, and abstains (NaN) on the other videos' variants
    variant_shares: dict = field(default_factory=dict)
    workers: int = 0  # items labelled at once (worker threads); 0: automatic, see label_workers
    reuse: object = None  # w2s.run.reuse.Reuse: what another run computed the same way, copied, not computed


def label_workers(job: LabelJob) -> int:
    """Items labelled at once: ``job.workers``, or automatically two where torch has two threads
    or more, and one when a teacher or the backbone is not safe to call from two threads at once
    (``thread_safe = False``: a VLM's processor and tokenizer keep per-call state, and two
    forwards at once would double its activation memory)."""
    if job.workers:
        return max(1, job.workers)
    if not all(m.thread_safe for m in [*job.teachers.values(), job.backbone]):
        return 1
    return min(2, torch.get_num_threads())


def _item_specs(video_id: str, job: LabelJob):
    """(family, level, params) of the clean clip, then of each variant in (family, level) order (the
    params come from the seed and the video's id alone: no pixel is needed to know them)."""
    yield None, 0, {}
    for family, distortion in job.distortions.items():
        seed = stable_seed(job.seed, video_id, family)
        for level in range(1, distortion.levels + 1):
            yield family, level, distortion.params(level, seed)


def _label_item(video_id: str, clip: Clip, family, level: int, params: dict, job: LabelJob, shared: dict,
                known: tuple[dict, torch.Tensor | None] = ({}, None)):
    """One item's row and features: its variant made, scored by every teacher, embedded; what ``known``
    (a reused row and features) already holds is taken from it instead."""
    row, feat = _from_known(video_id, family, level, params, job, shared, known)
    if feat is not None and all(c in row for c in _columns(job, family)):
        return {k: row[k] for k in _order(job, family)}, feat.float()
    item = clip
    if family is not None:
        variant = job.distortions[family].apply(clip, params)
        # teachers see the variant's own id (a score table must not hand it the clean clip's score)
        # and its clean clip (what a full-reference teacher compares against)
        item = variant.with_frames(variant.frames, id=variant_id(clip.id, family, level), family=family, level=level)
        item.reference = clip if job.distortions[family].aligned else None
    for name, teacher in job.teachers.items():
        if score_column(name) not in row:
            row[score_column(name)] = float(teacher.score(item))
    if "vmaf" in _columns(job, family) and "vmaf" not in row:
        from w2s.media.vmaf import vmaf

        row["vmaf"] = vmaf(clip, item)
    if feat is None:
        # the backbone's own score (a VLM's zero-shot rating; 0 for a CNN) is the student's `base`
        feat, row["base"] = job.backbone.embed_with_base(item)
        row["base"] = float(row["base"])
    return {k: row[k] for k in _order(job, family)}, feat.float()


def _item_id(video_id: str, family, level: int) -> str:
    return video_id if family is None else variant_id(video_id, family, level)


def _columns(job: LabelJob, family) -> list[str]:
    """The score columns of an item of ``family`` (None: the clean clip)."""
    vmaf = job.vmaf and family is not None and job.distortions[family].scored_by_vmaf
    return [score_column(name) for name in job.teachers] + (["vmaf"] if vmaf else [])


def _order(job: LabelJob, family) -> list[str]:
    return ["item_id", "video_id", "family", "level", "params", *_columns(job, family), "base"]


def _from_known(video_id, family, level, params, job: LabelJob, shared: dict, known) -> tuple[dict, object]:
    """The item's row so far (its keys, each score ``known`` holds or the teacher abstains on) and its
    features when known. A reused NaN is computed again unless the teacher abstains here: it may
    come from another variant share."""
    old, feat = known
    params_json = json.dumps(params, sort_keys=True)
    if old and old.get("params") != params_json:  # another ladder level's params: nothing carries over
        old, feat = {}, None
    row = {
        "item_id": _item_id(video_id, family, level),
        "video_id": video_id,
        "family": family or "",
        "level": level,
        "params": params_json,
    }
    for name in job.teachers:
        column = score_column(name)
        if family is not None and name in shared and video_id not in shared[name]:
            row[column] = math.nan  # outside its variant share: abstains, as a score table on a variant
        elif column in old and not (isinstance(old[column], float) and math.isnan(old[column])):
            row[column] = old[column]
    if "vmaf" in old and "vmaf" in _columns(job, family):
        row["vmaf"] = old["vmaf"]
    if feat is not None:
        row["base"] = old["base"]
    return row, feat


def _assemble(results) -> tuple[pd.DataFrame, torch.Tensor]:
    rows, features = zip(*results, strict=True)
    return pd.DataFrame(list(rows)), torch.stack(features)


def label_video(
    video_id: str, clip: Clip, job: LabelJob, shared: dict | None = None
) -> tuple[pd.DataFrame, torch.Tensor]:
    """Rows (one per item: the clean clip and each variant) and their features, from one decoded clip,
    one item after another.

    ``shared`` maps a teacher with a variant share to the videos whose variants
    it scores (:func:`share_videos`); a teacher not in it scores every item.
    """
    return _assemble(_label_item(video_id, clip, *spec, job, shared or {}) for spec in _item_specs(video_id, job))


class _InCaller:
    """The pool of a single worker: each item runs in the calling thread when its result is asked for."""

    def submit(self, fn, *args):
        return _Deferred(fn, args)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class _Deferred:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)

    def cancel(self) -> bool:
        return True


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
        (vid, path) for vid, path in list(zip(todo.id, todo.path, strict=True))[rank::world]
        if not (shards / f"{vid}.parquet").exists() and not (shards / f"{vid}.failed.json").exists()
    ]
    # from the whole manifest, so every process (and a resumed run) agrees on the videos
    shared = {name: share_videos(todo.id, job.seed, name, f) for name, f in job.variant_shares.items() if f < 1}
    _ShardWriter(job, shards, shared, desc).run(mine, progress=rank == 0)
    for teacher in job.teachers.values():
        teacher.close()  # e.g. a score table reports the pool items it lacked
    if accelerator:
        accelerator.wait_for_everyone()
    if rank == 0:
        _consolidate(todo.id, shards, folder)
        io.mark_done(folder)
    if accelerator:
        accelerator.wait_for_everyone()


class _ShardWriter:
    """One process's videos of :func:`label_pool`, each decoded, labelled item by item by the
    workers, and written to its shard (or to a ``.failed.json`` saying why it could not be)."""

    def __init__(self, job: LabelJob, shards: Path, shared: dict, desc: str):
        self.job, self.shards, self.shared, self.desc = job, shards, shared, desc

    def run(self, mine: list[tuple[str, str]], progress: bool) -> None:
        """Label the videos ``mine`` ((id, path) pairs) in order.

        The unit of work is one item, not one video: the workers take a video's items in order and
        go straight on to the next video's (queued before the previous one is collected), so none
        idles at a video's end; each item is computed on the same thread count whichever worker
        takes it. One worker runs the items in this thread, as label_video does: an OpenMP team
        driven from a second thread ran about a third slower here. The next video is decoded in a
        thread meanwhile (PyAV releases the GIL).
        """
        if self.job.reuse is not None:
            before = len(mine)
            mine = [(video_id, path) for video_id, path in mine if not self.copy_whole(video_id)]
            log.info("%s: %d video(s) taken whole from the reused run, %d to compute", self.desc, before - len(mine), len(mine))
        threads = torch.get_num_threads()
        workers = label_workers(self.job)
        # per calling thread under OpenMP: each worker runs its ops on its share of the cores
        share = max(1, threads // workers)
        pool = ThreadPoolExecutor(workers, "label", torch.set_num_threads, (share,)) if workers > 1 else _InCaller()
        decoder = ThreadPoolExecutor(1, "decode")
        upcoming = decoder.submit(self.decode, *mine[0]) if mine else None
        in_flight = deque()  # (video id, path, item futures), the oldest first
        try:
            for n, (video_id, path) in enumerate(with_progress(mine, self.desc, "video", enabled=progress)):
                current = upcoming
                upcoming = decoder.submit(self.decode, *mine[n + 1]) if n + 1 < len(mine) else None
                items = self.submit(pool, video_id, path, current)
                if items is None:
                    continue
                in_flight.append((video_id, path, items))
                while len(in_flight) > (1 if workers > 1 else 0):
                    self.finish(*in_flight.popleft())
            while in_flight:
                self.finish(*in_flight.popleft())
        finally:  # on an error or Ctrl-C, start no further item or decode
            decoder.shutdown(wait=True, cancel_futures=True)
            pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(threads)  # the workers' setting also reaches MKL and threads made later

    def decode(self, video_id: str, path: str) -> Clip:
        return read_clip(path, self.job.sampler, max_side=self.job.max_side or None, clip_id=video_id)

    def submit(self, pool, video_id: str, path: str, decoded) -> list | None:
        """The futures of the video's items, queued on ``pool`` once ``decoded`` (its decode's
        future) is done; None, with the failure recorded, if it could not be decoded."""
        try:
            clip = decoded.result()
            specs = list(_item_specs(video_id, self.job))
        except Exception as e:  # noqa: BLE001 - one bad video never stops the pool
            self.fail(video_id, path, e)
            return None
        known = self.job.reuse.known(video_id) if self.job.reuse is not None else {}
        return [pool.submit(_label_item, video_id, clip, *s, self.job, self.shared,
                            known.get(_item_id(video_id, *s[:2]), ({}, None))) for s in specs]

    def copy_whole(self, video_id: str) -> bool:
        """Write the video's shard straight from the reused run when it holds every item whole (no decode)."""
        known = self.job.reuse.known(video_id)
        results = []
        for spec in _item_specs(video_id, self.job) if known else ():
            row, feat = _from_known(video_id, *spec, self.job, self.shared, known.get(_item_id(video_id, *spec[:2]), ({}, None)))
            if feat is None or not all(c in row for c in _columns(self.job, spec[0])):
                return False
            results.append(({k: row[k] for k in _order(self.job, spec[0])}, feat.float()))
        if not results:
            return False
        self.write(video_id, *_assemble(results))
        return True

    def write(self, video_id: str, rows: pd.DataFrame, feats: torch.Tensor) -> None:
        # features first: a shard counts as finished only once its parquet exists
        io.write_tensors({"features": feats}, self.shards / f"{video_id}.safetensors")
        io.write_parquet(rows, self.shards / f"{video_id}.parquet")

    def finish(self, video_id: str, path: str, items: list) -> None:
        """Collect the video's items and write its shard (or its failure)."""
        try:
            rows, feats = _assemble(f.result() for f in items)
        except Exception as e:  # noqa: BLE001 - one bad video never stops the pool
            for f in items:
                f.cancel()
            self.fail(video_id, path, e)
            return
        self.write(video_id, rows, feats)

    def fail(self, video_id: str, path: str, e: Exception) -> None:
        log.debug("skipping %s: %s", path, e)  # shown once, in the failures table at the end
        # a W2SError's message is written for the user; anything else keeps its type, to tell bugs apart
        reason = str(e) if isinstance(e, W2SError) else f"{type(e).__name__}: {e}"
        failure = {"id": video_id, "path": path, "stage": self.desc, "error": reason}
        io.write_json(failure, self.shards / f"{video_id}.failed.json")


def _consolidate(video_ids, shards: Path, folder: Path) -> None:
    """Merge the shards into items.parquet and features.safetensors, the features streamed shard by
    shard into the file: a large pool's features never sit whole in memory."""
    frames, feature_files, failures = [], [], []
    for vid in video_ids:
        if (shards / f"{vid}.parquet").exists():
            frames.append(pd.read_parquet(shards / f"{vid}.parquet"))
            feature_files.append(shards / f"{vid}.safetensors")
        elif (shards / f"{vid}.failed.json").exists():
            failures.append(json.loads((shards / f"{vid}.failed.json").read_text()))
    if not frames:
        raise W2SError(f"no video of the pool could be labelled; see {shards}/*.failed.json")
    items = pd.concat(frames, ignore_index=True)
    if "base" in items:  # shards labelled before the backbone's base score was stored had none: 0
        items["base"] = items["base"].fillna(0.0)
    dim = io.map_tensor(feature_files[0], "features").shape[1]
    io.write_rows("features", (io.read_tensors(p)["features"].float() for p in feature_files), len(items), dim,
                  folder / "features.safetensors")
    io.write_parquet(items, folder / "items.parquet")
    io.write_parquet(pd.DataFrame(failures, columns=["id", "path", "stage", "error"]), folder / "failures.parquet")


def load_labels(folder: Path) -> tuple[pd.DataFrame, torch.Tensor]:
    """Items (one row each, in feature order) and their features (N, dim), memory-mapped: a row is
    read from disk when it is used (training gathers a batch's rows at a time)."""
    items = pd.read_parquet(Path(folder) / "items.parquet")
    features = io.map_tensor(Path(folder) / "features.safetensors", "features")
    return items, features
