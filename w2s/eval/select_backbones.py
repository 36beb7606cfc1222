"""Which frozen backbones a student should use, chosen without MOS (``w2s select-backbones``).

PTM-VQA picks its pre-trained models by how their features cluster under MOS;
a run here has no MOS, so each candidate (a backbone, or a combination of up to
``max_size`` of them, :mod:`students.multi`) is judged by what its round-0
student can do without any human label:

1. embed the run's training pool with the candidate: the label stage's own
   decoding, sampler, seeds and variants, and the run's appended features
   (motion, temporal, nss), cached per backbone in ``RUN/backbones/NAME/``; a
   combination reuses its members' caches, assembled in the order a
   ``[A, B]`` student would embed (:func:`assemble`); the run's own backbone
   reuses the label stage's features;
2. train round-0 heads out of fold on the run's round-0 pairs (each content
   scored by a head that never saw it, :func:`w2s.run.hard_cases.out_of_fold_scores`,
   with the run's prior if it has one);
3. measure those scores as the run measures a recycled student
   (:mod:`w2s.run.reliability`): *within* content, the accuracy on the known-order
   distortion pairs; *across* contents, agreement with the full-reference
   consensus on variants of different contents and with the no-reference
   teachers' consensus on clean clips.

The rule: keep the candidate with the best mean of the two axes. Within alone
soon saturates (every candidate orders blur levels) and says nothing about
content, and across alone rewards echoing the weak teachers; the mean asks for
both, and weighs them as the ensemble does, one axis each. Ties go to the
smaller feature count (cheaper to run, fewer inputs to fit).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from w2s.core import io
from w2s.core.errors import W2SError

log = logging.getLogger(__name__)


def folder_name(spec: str) -> str:
    """A backbone spec as a folder name (``timm:resnet18`` -> ``timm-resnet18``)."""
    return spec.replace(":", "-").replace("/", "--")


def embed_candidate(ctx, spec: str, device: str | None = None) -> tuple[pd.DataFrame, torch.Tensor, dict]:
    """The run's training pool embedded by one backbone (with the run's appended features) on ``device``:
    items, features and ``{backbone_dim, dim, seconds}``, computed once into RUN/backbones/NAME/."""
    from distortions import make_distortions
    from students.student import build_perception
    from w2s.media.samplers import make_sampler
    from w2s.run.label import LabelJob, label_pool, load_labels

    config = ctx.config
    folder = ctx.folder.backbones / folder_name(spec)
    meta_file = folder / "backbone.json"
    if not io.is_done(folder):
        extras = config.student.extras()
        options = dict(config.student.backbone_options) if spec == config.student.backbone else {}
        perception = build_perception(spec, options, extras, device)
        start = time.perf_counter()
        if spec == config.student.backbone and io.is_done(ctx.folder.label):
            # the run's own backbone: the label stage embedded the pool with it already
            items, features = load_labels(ctx.folder.label)
            folder.mkdir(parents=True, exist_ok=True)
            io.write_parquet(items, folder / "items.parquet")
            io.write_tensors({"features": features}, folder / "features.safetensors")
            io.mark_done(folder)
            seconds = float("nan")  # the label stage's time, in its log
        else:
            manifest = pd.read_parquet(ctx.folder.manifest("label"))
            job = LabelJob(make_sampler(config.pool.sampler), config.pool.max_side, config.seed,
                           make_distortions(config.training_families()), {}, perception,
                           workers=config.pool.label_workers)
            label_pool(manifest, folder, job, f"embed {spec}", ctx.accelerator)
            seconds = time.perf_counter() - start
        backbone_dim = getattr(perception, "backbone_dim", perception.dim)
        io.write_json({"spec": spec, "backbone_dim": int(backbone_dim), "dim": int(perception.dim),
                       "seconds": seconds}, meta_file)
    items, features = load_labels(folder)
    return items, features, io.read_json(meta_file)


def assemble(parts: list[tuple[torch.Tensor, dict]], extras: dict) -> tuple[torch.Tensor, list | None]:
    """Features of a combination from its members' cached ones, in a ``[A, B]`` perception's order
    ``[A | B | motion | change A | change B | nss]`` (students.perception), and the head's blocks."""
    from students.motion import MOTION_DIM
    from students.multi import block_scales
    from students.nss import NSS_DIM

    if len(parts) == 1:
        return parts[0][0], None
    dims = [m["backbone_dim"] for _, m in parts]
    scales = block_scales(dims)
    own = [f[:, :d] for (f, _), d in zip(parts, dims)]
    blocks = [[d, s] for d, s in zip(dims, scales)]
    columns = list(own)
    first, d0 = parts[0][0], dims[0]
    at = d0
    if extras.get("motion"):
        columns.append(first[:, at : at + MOTION_DIM])
        blocks.append([MOTION_DIM, 1.0])
        at += MOTION_DIM
    if extras.get("temporal"):
        for (f, _), d, s in zip(parts, dims, scales):
            offset = d + (MOTION_DIM if extras.get("motion") else 0)
            columns.append(f[:, offset : offset + d])
            blocks.append([d, s])
        at += d0
    if extras.get("nss"):
        columns.append(first[:, at : at + NSS_DIM])
        blocks.append([NSS_DIM, 1.0])
    return torch.cat(columns, dim=1), blocks


def measure(ctx, pool, pairs: pd.DataFrame, dist: pd.DataFrame) -> tuple[float, float]:
    """(within, across) reliability of the out-of-fold round-0 scores of ``pool``'s features."""
    from teachers import teacher_class
    from w2s.core.names import score_column
    from w2s.run.hard_cases import out_of_fold_scores, round_seed
    from w2s.run.reliability import two_axes

    config = ctx.config
    # the seed the run's own round-0 out-of-fold scores use (round 1's folds)
    oof = out_of_fold_scores(pool, pairs, config, round_seed(config, 1), ctx.accelerator)
    column = "score:candidate"
    scores = pool.items.assign(**{column: oof})
    teachers = [score_column(t) for t in config.teacher_names()]
    full_reference = {score_column(t) for t in config.teacher_names() if teacher_class(t).full_reference}
    within, across = two_axes(scores, [*teachers, column], full_reference, dist, config, pool.index)
    return float(within[column]), float(across[column])


def select_backbones(run_dir: str | Path, candidates: list[str], max_size: int = 2, accelerator=None,
                     device: str = "auto") -> pd.DataFrame:
    """One row per candidate subset: feature count, within, across, their mean, embedding seconds;
    best first, ``keep`` marks the chosen one. Written to RUN/backbones/selection.csv. The candidates
    embed on ``device`` (:func:`w2s.core.device.resolve_device`); ``cpu`` keeps the heads there too."""
    from students import check_backbone
    from w2s.core.device import resolve_device
    from w2s.run.context import open_run
    from w2s.run.labels import Labels
    from w2s.run.panel import TeacherPanel

    if len(set(candidates)) != len(candidates) or not candidates:
        raise W2SError(f"--candidates must name distinct backbones, got {candidates}")
    for spec in candidates:
        check_backbone(spec)
    device = resolve_device(device)
    if accelerator is None and device.type == "cpu":
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=True)
    ctx = open_run(run_dir, accelerator)
    config = ctx.config
    pairs_file = ctx.folder.round(0).pairs
    if not io.is_done(ctx.folder.label) or not pairs_file.is_file():
        raise W2SError(f"{run_dir}: needs a finished label stage and round 0's pairs; run "
                       "`w2s run CONFIG --stop-after pairs:0` first")
    items = pd.read_parquet(ctx.folder.items("label"))
    pairs = pd.read_parquet(pairs_file)
    run_pool = Labels(items, torch.zeros(len(items), 1)).of_run(config)
    dist = run_pool.distortion_pairs(config)
    prior = TeacherPanel.of_round(run_pool, [], dist, config).prior(config)  # round 0's, as the run's student has

    embedded = {}
    for spec in candidates:
        c_items, c_features, meta = embed_candidate(ctx, spec, str(device))
        row = pd.Series(np.arange(len(c_items)), index=c_items.item_id)
        missing = set(run_pool.items.item_id) - set(row.index)
        if missing:
            raise W2SError(f"{spec} embedded {len(c_items)} items, but {len(missing)} of the run's are missing "
                           f"(e.g. {sorted(missing)[0]}); delete {ctx.folder.backbones} and rerun")
        embedded[spec] = (c_features[torch.tensor(row[run_pool.items.item_id].to_numpy())], meta)

    rows = []
    for size in range(1, max(1, max_size) + 1):
        for subset in itertools.combinations(candidates, size):
            features, blocks = assemble([embedded[s] for s in subset], config.student.extras())
            pool = Labels(run_pool.items, features, prior, blocks)
            within, across = measure(ctx, pool, pairs, dist)
            seconds = [embedded[s][1]["seconds"] for s in subset]
            rows.append({"backbones": list(subset), "dim": int(features.shape[1]), "within": within,
                         "across": across, "mean": (within + across) / 2, "embed_seconds": float(np.sum(seconds))})
            log.info("%s: within %.3f, across %.3f", ",".join(subset), within, across)
    table = pd.DataFrame(rows).sort_values(["mean", "dim"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True).assign(keep=lambda t: t.index == 0)
    out = ctx.folder.backbones / "selection.csv"
    io.write_text(table.assign(backbones=table.backbones.map(json.dumps)).to_csv(index=False), out)
    return table
