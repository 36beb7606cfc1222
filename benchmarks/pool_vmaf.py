"""Cross-content ranking on the *training* pool, out of fold: a selection figure that is not the held-out set.

    python benchmarks/pool_vmaf.py RUN [RUN ...]

The held-out VMAF SRCC is the quickstart's report figure, so settings must not
be chosen by it. This script gives the same kind of figure on the training
pool: VMAF of the pool's codec variants (H.264 in the quickstart) against
their clean clips, computed here (cached in ``RUN/label/vmaf.parquet``) and
never given to training, against

- each no-reference teacher and the weak ensemble (round 0's weights across
  contents), as scored in the label stage;
- each round's student, *out of fold*: the items of a content are scored by a
  head trained without any pair touching that content (the scores a run
  already keeps in ``round_KK/oof.parquet``; the last round's are computed
  here the same way).

It prints one row per run: SRCC across contents of every codec variant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from w2s.core import io
from w2s.core.names import score_column
from w2s.eval.metrics import srcc
from w2s.run.context import Context, open_run
from w2s.run.hard_cases import out_of_fold_scores, round_seed
from w2s.run.panel import TeacherPanel
from w2s.run.pool import training_pool
from w2s.run.train import default_accelerator


def pool_vmaf(ctx: Context) -> pd.Series:
    """VMAF of every codec variant of the run's training pool, by item id (cached)."""
    from distortions import DISTORTIONS, make_distortions
    from w2s.media.decode import read_clip
    from w2s.media.vmaf import vmaf

    folder, config = ctx.folder, ctx.config
    cache = folder.label / "vmaf.parquet"
    if cache.is_file():
        return pd.read_parquet(cache).set_index("item_id").vmaf
    items = pd.read_parquet(folder.items("label"))
    codecs = [f for f in config.distortions if DISTORTIONS.resolve(f).scored_by_vmaf]
    items = items[items.family.isin(codecs)]
    distortions = make_distortions({f: config.distortions[f] for f in codecs})
    manifest = pd.read_parquet(folder.manifest("label")).set_index("id")
    rows = []
    for video_id, group in items.groupby("video_id"):
        clip = read_clip(manifest.path[video_id], config.pool.sampler, max_side=config.pool.max_side or None,
                         clip_id=video_id)
        for row in group.itertuples():
            rows.append({"item_id": row.item_id,
                         "vmaf": vmaf(clip, distortions[row.family].apply(clip, json.loads(row.params)))})
    table = pd.DataFrame(rows)
    io.write_parquet(table, cache)
    return table.set_index("item_id").vmaf


def row(run: Path, accelerator) -> dict:
    ctx = open_run(run, accelerator)
    config, folder = ctx.config, ctx.folder
    target = pool_vmaf(ctx)
    pool = training_pool(ctx).of_run(config)
    teachers = TeacherPanel.of_round(pool, [], pool.distortion_pairs(config), config)
    pool = pool.with_prior(teachers.prior(config))
    rows = pool.items.item_id.isin(target.index).to_numpy()
    truth = target.reindex(pool.items.item_id[rows]).to_numpy()
    out = {"run": run.name if run.name != "quickstart" else run.parent.name}
    for name in config.teacher_names():
        if score_column(name) not in teachers.full_reference:  # a full-reference teacher is no rival here
            out[name] = srcc(pool.items[score_column(name)].to_numpy()[rows], truth)
    out["ensemble"] = srcc(teachers.consensus(weak_only=True)[rows], truth)
    for k in folder.rounds_written():
        oof_path = folder.round(k).oof
        if oof_path.is_file():
            scores = pool.read_scores(oof_path)
        else:
            pairs = pd.read_parquet(folder.round(k).pairs)
            scores = out_of_fold_scores(pool, pairs, config, round_seed(config, k + 1), accelerator)
            pool.write_scores(scores, oof_path)
        out[f"student r{k} (OOF)"] = srcc(scores[rows], truth)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="finished run folders")
    args = p.parse_args(argv)
    accelerator = default_accelerator()
    table = pd.DataFrame([row(Path(r), accelerator) for r in args.runs])
    sys.stdout.write("training-pool codec variants, SRCC with VMAF across contents (students out of fold)\n")
    sys.stdout.write(table.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
