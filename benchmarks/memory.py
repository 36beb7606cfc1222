"""Peak memory of labelling and scoring a 1-minute and a 10-minute 720p video: it must not grow with length.

    python benchmarks/memory.py [--minutes 1 10] [--config configs/quickstart.yaml] [--model pyiqa:piqe]

Generates each video with the ffmpeg binary of imageio-ffmpeg (``testsrc2``,
1280x720, 25 fps, libx264 ultrafast) in a temporary folder, then, in a fresh
Python process each (so one peak cannot hide another):

* ``label``: the label stage of the config (its sampler, distortions with the
  codecs, teachers and student backbone) on a pool of that one video;
* ``score``: ``w2s.load(--model)`` scoring the file.

Each child reports its own peak resident memory (``ru_maxrss`` of
RUSAGE_SELF: the encoders ffmpeg runs for codec variants are separate
processes, on the sampled frames only). Prints the peaks, the ratio of the
longest video's peak to the shortest's, and a verdict against the targets of
issue 12: at most 1.1x, and under 2 GB.
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

RATIO_TARGET = 1.1
PEAK_TARGET_MB = 2048


def peak_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_video(path: Path, seconds: int) -> float:
    """A ``seconds``-long 720p H.264 test pattern at ``path``; returns the seconds it took."""
    from imageio_ffmpeg import get_ffmpeg_exe

    start = time.perf_counter()
    subprocess.run(
        [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - start


def child_label(video: Path, config_path: str) -> dict:
    import pandas as pd

    from distortions import make_distortions
    from students import make_backbone
    from teachers import make_teacher
    from w2s.config import load_config
    from w2s.media.samplers import make_sampler
    from w2s.run.label import LabelJob, label_pool, load_labels

    config = load_config(config_path)
    job = LabelJob(
        make_sampler(config.pool.sampler), config.pool.max_side, config.seed, make_distortions(config.distortions),
        {n: make_teacher(n, device="cpu", **o) for n, o in config.teacher_specs()},
        make_backbone(config.student.backbone, **config.student.backbone_options),
    )
    with tempfile.TemporaryDirectory(prefix="w2s-mem-") as tmp:
        manifest = pd.DataFrame({"id": [video.stem], "path": [str(video)], "status": ["ok"]})
        label_pool(manifest, Path(tmp), job, desc="label")
        items, _ = load_labels(tmp)
    return {"items": len(items)}


def child_score(video: Path, model: str) -> dict:
    import w2s

    table = w2s.load(model).score_files([str(video)])
    if (table.status != "ok").any():
        raise SystemExit(f"scoring failed: {table.error.iloc[0]}")
    return {"score": float(table.score.iloc[0])}


def run_child(task: str, video: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", task, str(video), "--config", args.config, "--model", args.model]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{task} of {video.name} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["seconds"] = time.perf_counter() - start
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    p.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"))
    p.add_argument("--model", default="pyiqa:piqe", help="the scorer of the score task")
    p.add_argument("--child", nargs=2, metavar=("TASK", "VIDEO"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        task, video = args.child[0], Path(args.child[1])
        out = child_label(video, args.config) if task == "label" else child_score(video, args.model)
        out["peak_mb"] = peak_mb()
        sys.stdout.write(json.dumps(out) + "\n")
        return 0

    lines = [f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s); label: {args.config}; score: {args.model}"]
    peaks: dict[str, list[float]] = {"label": [], "score": []}
    with tempfile.TemporaryDirectory(prefix="w2s-mem-videos-") as tmp:
        for minutes in args.minutes:
            video = Path(tmp) / f"testsrc2_720p_{minutes:g}min.mp4"
            made = make_video(video, round(minutes * 60))
            size = video.stat().st_size / 2**20
            lines.append(f"{video.name}: {round(minutes * 60 * 25)} frames, {size:.0f} MB, generated in {made:.0f} s")
            for task in ("label", "score"):
                out = run_child(task, video, args)
                peaks[task].append(out["peak_mb"])
                what = f"{out['items']} items" if task == "label" else f"score {out['score']:.3f}"
                lines.append(f"  {task:5s}: peak RSS {out['peak_mb']:7.0f} MB  ({what}, {out['seconds']:.0f} s)")
    ok = True
    for task, values in peaks.items():
        ratio = values[-1] / values[0]
        good = ratio <= RATIO_TARGET and max(values) < PEAK_TARGET_MB
        ok &= good
        lines.append(
            f"{task:5s}: {args.minutes[-1]:g}-min peak / {args.minutes[0]:g}-min peak = {ratio:.3f} "
            f"(target <= {RATIO_TARGET}), largest {max(values):.0f} MB (target < {PEAK_TARGET_MB} MB): "
            + ("PASS" if good else "FAIL")
        )
    lines.append("verdict: " + ("PASS" if ok else "FAIL"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
