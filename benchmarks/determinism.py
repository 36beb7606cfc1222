"""How far a run's figures move with the thread count: the quickstart, reduced, run under
several thread settings and compared file by file with the first.

    python benchmarks/determinism.py [--videos 8] [--eval-videos 8] [--rounds 2] [--out DIR]

Each setting is a fresh ``python -m w2s run configs/quickstart.yaml`` (pool and held-out set
cut to the first N videos, no leave-one-family-out) with its own environment:

* ``2 threads`` (the reference) and ``2 threads again``: run to run on one machine;
* ``1 thread``: one label worker instead of two (each item still on one thread), and
  training and evaluation on one intra-op thread instead of two;
* ``2 threads, 1 worker``: ``pool.label_workers=1``, so every item is computed on two
  intra-op threads (what a machine where one worker is picked does: a GPU, or a VLM teacher).

For each, per file: which teacher score columns and how many features differ and by how
much at most, how many pairs' targets moved, whether each round's weights are equal, and
the largest change of any model's SRCC/PLCC. Prints a table per setting; nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).parents[1]
SETTINGS = {
    "2 threads": ({"OMP_NUM_THREADS": "2"}, []),
    "2 threads again": ({"OMP_NUM_THREADS": "2"}, []),
    "1 thread": ({"OMP_NUM_THREADS": "1"}, []),
    "2 threads, 1 worker": ({"OMP_NUM_THREADS": "2"}, ["pool.label_workers=1"]),
}


def run(name: str, out: Path, args, env: dict, extra: list[str]) -> Path:
    sets = [f"name={name}", f"output_dir={out}", f"pool.limit={args.videos}", f"eval.limit={args.eval_videos}",
            f"rounds={args.rounds}", "eval.lofo=none", *extra]
    cmd = [sys.executable, "-m", "w2s", "run", str(REPO / "configs" / "quickstart.yaml"), *[a for s in sets for a in ("--set", s)]]
    print(f"running {name}: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(extra)}", flush=True)
    done = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO), **env}, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    return out / name


def compare_items(a: Path, b: Path) -> list[str]:
    from w2s.core.io import read_tensors

    lines = []
    ia, ib = pd.read_parquet(a / "items.parquet"), pd.read_parquet(b / "items.parquet")
    for col in [c for c in ia.columns if c.startswith("score:") or c in ("vmaf", "base")]:
        x, y = ia[col].to_numpy(), ib[col].to_numpy()
        diff = ~((x == y) | (np.isnan(x) & np.isnan(y)))
        if diff.any():
            worst = int(np.nanargmax(np.abs(x - y)))
            lines.append(f"  {col}: {diff.sum()} of {len(x)} items differ, max |diff| {np.nanmax(np.abs(x - y)):.3g} "
                         f"({ia.item_id.iloc[worst]}: {x[worst]:.6g} vs {y[worst]:.6g})")
    fa, fb = (read_tensors(r / "features.safetensors")["features"] for r in (a, b))
    rows = (fa != fb).any(dim=1)
    if rows.any():
        rel = ((fa - fb).abs().max() / fa.abs().max()).item()
        lines.append(f"  features: {int(rows.sum())} of {len(rows)} items differ, max |diff| "
                     f"{(fa - fb).abs().max().item():.3g} ({rel:.2g} of the largest feature)")
    return lines or ["  identical"]


def compare_round(a: Path, b: Path) -> list[str]:
    lines = []
    pa, pb = pd.read_parquet(a / "pairs.parquet"), pd.read_parquet(b / "pairs.parquet")
    if len(pa) != len(pb) or not (pa[["a", "b"]].to_numpy() == pb[["a", "b"]].to_numpy()).all():
        lines.append(f"  pairs: other pairs drawn ({len(pa)} vs {len(pb)})")
    elif not pa.p.equals(pb.p):
        d = (pa.p - pb.p).abs()
        lines.append(f"  pairs: {int((d > 0).sum())} of {len(pa)} targets differ, max |dp| {d.max():.3g}")
    same = (a / "student" / "model.safetensors").read_bytes() == (b / "student" / "model.safetensors").read_bytes()
    lines.append(f"  student weights: {'identical' if same else 'differ'}")
    ma, mb = (json.loads((r / "eval" / "metrics.json").read_text()) for r in (a, b))
    worst = {}  # metric -> (largest change over the models, which model)
    for model in ma:
        for key, x in ma[model].items():
            y = mb.get(model, {}).get(key)
            if isinstance(x, float) and isinstance(y, float) and not (np.isnan(x) and np.isnan(y)):
                if abs(x - y) > worst.get(key, (0.0, ""))[0]:
                    worst[key] = (abs(x - y), f"{model}: {x:.4f} vs {y:.4f}")
    if not worst:
        lines.append("  metrics: identical")
    for key, (change, where) in sorted(worst.items()):
        lines.append(f"  {key}: largest change {change:.4f} ({where})")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="training pool videos (quickstart: all)")
    parser.add_argument("--eval-videos", type=int, default=8, help="held-out videos")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temp folder)")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="w2s-determinism-"))
    runs = {s: run(s.replace(" ", "_").replace(",", ""), out, args, *SETTINGS[s]) for s in args.settings}
    first, ref = next(iter(runs.items()))
    for setting, folder in list(runs.items())[1:]:
        print(f"\n## {setting} against {first}")
        for split in ("label", "evalset"):
            print(f"{split}:")
            print("\n".join(compare_items(ref / split, folder / split)))
        for k in range(args.rounds):
            print(f"round {k}:")
            print("\n".join(compare_round(ref / f"round_{k:02d}", folder / f"round_{k:02d}")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
