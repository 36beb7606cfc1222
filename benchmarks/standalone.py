"""The standalone student (``student.standalone``) against the prior student it is distilled from.

    python benchmarks/standalone.py [RUN] [--round K] [--repeats 3]

For a finished run (default ``runs/quickstart``) and its last round (or ``--round K``):
the prior student is ``round_K/student_prior`` when the run distilled one
(``student.standalone: true``), else ``round_K/student``, which is then distilled here
exactly as a run does it (:func:`w2s.run.round.distil_student`, into a temporary
folder). Prints, for each, the held-out figures of the run's evaluation (severity
SRCC in and out of distribution, SRCC and PLCC against VMAF, from the evalset's
cached features and teacher scores, as the report computes them), how closely the
standalone ranks as the prior student does, and the scoring speed: seconds per clip
of ``w2s.load(...)`` on the run's held-out video files (the ``w2s score`` path:
decode, backbone, and for the prior student its teachers), the first file of
each left out as warm-up, best of ``--repeats``. One torch thread.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def seconds_per_clip(folder: Path, files: list[str], repeats: int) -> float:
    import w2s

    scorer = w2s.load(folder, device="cpu")
    scorer.decode_workers = 0  # one file at a time: the time of the model, not of overlapped decoding
    scorer(files[0])  # warm-up: the backbone and the teachers are built on first use
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for f in files[1:]:
            scorer(f)
        best = min(best, (time.perf_counter() - start) / (len(files) - 1))
    return best


def main(argv=None) -> int:
    from scipy.stats import spearmanr

    from w2s.eval.severity import evaluate_scores
    from w2s.run.context import open_run
    from w2s.run.label import load_labels
    from w2s.run.labels import Labels
    from w2s.run.pool import training_pool
    from w2s.run.round import distil_student, load_head, save_student, score_labels
    from w2s.run.train import default_accelerator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", default="runs/quickstart")
    ap.add_argument("--round", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    ctx = open_run(args.run)
    config = ctx.config
    k = config.rounds - 1 if args.round is None else args.round
    files = ctx.folder.round(k)
    evalset = Labels(*load_labels(ctx.folder.evalset))
    with tempfile.TemporaryDirectory() as tmp:
        if (files.student_prior / "config.json").is_file():
            prior_dir, alone_dir, how = files.student_prior, files.student, "saved by the run"
            distil_s = float("nan")
        else:
            prior_dir, how = files.student, "distilled here"
            head = load_head(prior_dir)
            if head.prior is None:
                print(f"{prior_dir} has no teachers' prior (student.prior: none): it stands alone already")
                return 1
            pool = training_pool(ctx).of_run(config).with_prior(head.prior)
            pairs = pd.read_parquet(files.pairs)
            start = time.perf_counter()
            alone = distil_student(pool, head, pairs, config, k, default_accelerator())
            distil_s = time.perf_counter() - start
            alone_dir = Path(tmp) / "student"
            ctx.folder = _scratch_folder(ctx.folder, Path(tmp))  # the log and state go to the temp folder
            save_student(ctx, alone, pool, k, alone_dir, distilled=True)
        prior_head, alone_head = load_head(prior_dir), load_head(alone_dir)
        scores = {"prior student": score_labels(prior_head, evalset), "standalone": score_labels(alone_head, evalset)}
        id_families, ood = list(config.id_families()), list(config.eval.ood)
        figures = {name: evaluate_scores(s, evalset.items, id_families, ood) for name, s in scores.items()}
        manifest = pd.read_parquet(ctx.folder.manifest("evalset"))
        videos = manifest[manifest.status == "ok"].path.tolist()
        speed = {"prior student": seconds_per_clip(prior_dir, videos, args.repeats),
                 "standalone": seconds_per_clip(alone_dir, videos, args.repeats)}

    print(f"# standalone vs prior student: {args.run} round {k} ({how}); "
          f"{datetime.date.today().isoformat()}, {platform.machine()} {os.cpu_count()}-core {platform.system()}, "
          f"torch threads 1, teachers of the prior: {', '.join(prior_head.prior.teachers)}")
    if not np.isnan(distil_s):
        print(f"# distillation: {distil_s:.1f} s")
    print("| model | ID SRCC | OOD SRCC | VMAF SRCC | VMAF PLCC | s/clip (w2s.load, held-out files) |")
    print("|---|---|---|---|---|---|")
    for name, r in figures.items():
        print(f"| {name} | {r['id_srcc']:.3f} | {r['ood_srcc']:.3f} | {r['vmaf_srcc']:.3f} | {r['vmaf_plcc']:.3f} "
              f"| {speed[name]:.3f} |")
    agree = spearmanr(scores["standalone"], scores["prior student"])[0]
    vmaf = figures["standalone"]["vmaf_srcc"] - figures["prior student"]["vmaf_srcc"]
    ratio = speed["prior student"] / speed["standalone"]
    print(f"\nstandalone vs prior student on the held-out items: SRCC {agree:.3f}; VMAF SRCC difference {vmaf:+.3f} "
          f"(done: within 0.02: {'yes' if abs(vmaf) <= 0.02 else 'no'}); speed-up x{ratio:.2f} "
          f"(done: at least x2: {'yes' if ratio >= 2 else 'no'}); {len(videos) - 1} clips timed")
    return 0


def _scratch_folder(folder, tmp: Path):
    """The run's folder with round files (log, checkpoint) redirected to ``tmp``: the benchmark writes
    nothing into the run."""
    from w2s.run.folder import RoundFolder

    class Scratch:
        def __getattr__(self, name):
            return getattr(folder, name)

        def round(self, k):
            return RoundFolder(tmp / f"round_{k:02d}")

    return Scratch()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
