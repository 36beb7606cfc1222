"""A run's two pools, the training pool (split ``label``) and the held-out set (``evalset``): each
scanned once into a manifest, then labelled (:mod:`w2s.run.label`) into :class:`Labels`; and the
table of every file the run could not use."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from w2s.core import io
from w2s.core.errors import W2SError
from w2s.run.context import Context, describe_backbone
from w2s.run.label import LabelJob, label_pool, load_labels, variant_share
from w2s.run.labels import Labels
from w2s.run.reuse import plan_reuse

log = logging.getLogger(__name__)


def label_split(ctx: Context, split: str, source: str, limit: int, families: dict, shares: bool = False,
                vmaf: bool = False) -> Labels:
    """Decode each video of a pool once: its variants, teacher scores and frozen features (read back
    when the split's label stage is done)."""
    from distortions import make_distortions
    from w2s.media.samplers import make_sampler

    folder = getattr(ctx.folder, split)
    if not io.is_done(folder):
        manifest = scan(ctx, split, source, limit)
        if not (manifest.status == "ok").any():
            raise W2SError(f"no readable video in the pool {source}; see {ctx.folder.manifest(split)}")
        backbone, teachers = ctx.models
        config = ctx.config
        job = LabelJob(
            make_sampler(config.pool.sampler), config.pool.max_side, config.seed,
            make_distortions(families), teachers, backbone, vmaf=vmaf,
            # a teacher with a variant share scores the variants of that share of the training pool;
            # the eval set is scored in full, so every model is measured on the same items
            variant_shares={n: variant_share(n, o) for n, o in config.teacher_specs()} if shares else {},
            # on a GPU one item at a time: the device is the bottleneck, not the CPU's threads
            workers=config.pool.label_workers or (1 if ctx.accelerator.device.type != "cpu" else 0),
            reuse=plan_reuse(ctx.reuse_from, config, split) if ctx.reuse_from else None,
        )
        label_pool(manifest, folder, job, f"label {split}", ctx.accelerator)
    if split == "label":
        ctx.backbone_info = ctx.cached(ctx.folder.backbone, lambda: describe_backbone(ctx.models[0]),
                                       io.write_json, io.read_json, main_only=True)
        return training_pool(ctx)
    return Labels(*load_labels(folder))


def training_pool(ctx: Context) -> Labels:
    """The labelled training pool of a run whose label stage is done, with the block scales of the
    features when they come from several backbones (:mod:`students.multi`)."""
    if not io.is_done(ctx.folder.label):
        raise W2SError(f"{ctx.folder.root}: the label stage is not finished; run `w2s run` on its config first")
    return Labels(*load_labels(ctx.folder.label), blocks=ctx.backbone_info.get("blocks"))


def scan(ctx: Context, split: str, source: str, limit: int) -> pd.DataFrame:
    """The pool's manifest: every file found, readable or not (unreadable ones are recorded, skipped)."""
    return ctx.cached(ctx.folder.manifest(split), lambda: make_manifest(resolve_source(ctx, source), limit),
                      io.write_parquet, pd.read_parquet, main_only=True)


def resolve_source(ctx: Context, source: str) -> Path:
    """A pool path; ``samples:SPLIT`` builds the embedded real-content pool in the run folder."""
    if source.startswith("samples:"):
        from w2s.media.samples import build_samples

        out = ctx.folder.samples(source.partition(":")[2])
        build_samples(out, split=source.partition(":")[2], seed=ctx.config.seed)
        return out
    path = Path(source)
    if not path.exists():
        raise W2SError(f"pool source not found: {source} (a folder, .csv or .jsonl of videos, or samples:train)")
    return path


def make_manifest(source: Path, limit: int = 0) -> pd.DataFrame:
    from w2s.media.scan import build_manifest, scan_pool

    entries = scan_pool(source)
    if limit:
        entries = sorted(entries, key=lambda e: e.id)[:limit]
    return build_manifest(entries)


def write_failures(ctx: Context) -> None:
    """Every file the run could not use, from the scans and the label stages, with its reason."""
    if not ctx.main:
        return
    parts = []
    for split in ("label", "evalset"):
        if ctx.folder.manifest(split).exists():
            m = pd.read_parquet(ctx.folder.manifest(split))
            parts.append(m[m.status != "ok"][["id", "path", "error"]].assign(stage=f"scan {split}"))
        if (getattr(ctx.folder, split) / "failures.parquet").exists():
            parts.append(pd.read_parquet(getattr(ctx.folder, split) / "failures.parquet"))
    columns = ["id", "path", "stage", "error"]
    failures = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    io.write_parquet(failures, ctx.folder.failures)
    if len(failures):
        log.warning("%d file(s) could not be used; reasons in %s", len(failures), ctx.folder.failures)
