"""Label-stage speed on the quickstart pool: how much do the label workers overlap?

    python benchmarks/label.py [--videos N] [--workers W] [--config configs/quickstart.yaml]

Prints clips/s for the whole label stage (decode + variants + teachers +
backbone, ``W`` items at a time on worker threads, see w2s/run/label.py), for
decoding alone, and for the compute alone on clips already in memory, one
item after another with torch's default threads (the sequential baseline);
then the ratio of the label stage's wall time to (decode-only +
compute-only): 1.0 means no overlap, and lower is better.

A second reference, the same compute on one torch thread, separates the two
gains of the workers: on a loaded machine, two intra-op threads per op can be
far slower than one (OpenMP barriers wait for a descheduled thread), and the
first ratio then credits the workers with that too; the second ratio shows
the overlap alone (0.5 is two perfectly overlapped workers). Teachers score
every item here (a teacher's ``variant_share`` option is not applied).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main(argv=None) -> int:
    import torch

    from distortions import make_distortions
    from students import BACKBONES
    from teachers import make_teacher
    from w2s.config import load_config
    from w2s.media.decode import read_clip
    from w2s.media.samplers import make_sampler
    from w2s.media.samples import build_samples
    from w2s.media.scan import scan_pool
    from w2s.run.label import LabelJob, label_pool, label_video, label_workers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/quickstart.yaml")
    ap.add_argument("--videos", type=int, default=8, help="pool videos to time (0: all)")
    ap.add_argument("--workers", type=int, default=0, help="label workers (0: the label stage's default)")
    args = ap.parse_args(argv)
    config = load_config(args.config)
    work = Path(tempfile.mkdtemp(prefix="w2s-bench-"))
    pool = work / "pool"
    build_samples(pool, split="train", seed=config.seed, progress=False)
    entries = sorted(scan_pool(pool), key=lambda e: e.id)
    entries = entries[: args.videos] if args.videos else entries
    sampler = make_sampler(config.pool.sampler)
    job = LabelJob(
        sampler, config.pool.max_side, config.seed, make_distortions(config.distortions),
        {n: make_teacher(n, device="cpu", **o) for n, o in config.teacher_specs()},
        BACKBONES.resolve(config.student.backbone)(), workers=args.workers,
    )
    items_per_clip = 1 + sum(d.levels for d in job.distortions.values())
    threads = torch.get_num_threads()
    warm = read_clip(entries[0].path, sampler, max_side=config.pool.max_side)  # warm caches and codecs
    label_video(warm.id, warm, job)  # ... and the models

    t = time.perf_counter()
    clips = [read_clip(e.path, sampler, max_side=config.pool.max_side, clip_id=e.id) for e in entries]
    decode_s = time.perf_counter() - t

    def compute() -> float:
        t = time.perf_counter()
        for clip in clips:
            label_video(clip.id, clip, job)
        return time.perf_counter() - t

    compute_s = compute()  # the sequential baseline: torch's default threads
    torch.set_num_threads(1)
    compute1_s = compute()
    torch.set_num_threads(threads)

    manifest = pd.DataFrame({"id": [e.id for e in entries], "path": [e.path for e in entries], "status": "ok"})
    t = time.perf_counter()
    label_pool(manifest, work / "label", job, desc="label stage")
    label_s = time.perf_counter() - t

    n = len(entries)
    workers = label_workers(job)
    rows = [
        (f"label stage ({workers} worker(s))", label_s),
        ("decode only", decode_s),
        (f"compute only (variants + teachers + backbone), {threads} thr", compute_s),
        ("compute only, 1 torch thread (reference)", compute1_s),
    ]
    out = [f"{n} clips x {items_per_clip} items ({config.pool.sampler}), teachers {', '.join(config.teacher_names())}"]
    for name, secs in rows:
        out.append(f"{name:56s} {secs:7.1f} s  {n / secs:7.2f} clips/s  {n * items_per_clip / secs:7.1f} items/s")
    out.append(f"{'label / (decode + compute)':56s} {label_s / (decode_s + compute_s):7.3f}")
    out.append(f"{'label / (decode + compute on 1 thread)':56s} {label_s / (decode_s + compute1_s):7.3f}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
