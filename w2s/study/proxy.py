"""A labelled set made from a run's own held-out codec variants, with VMAF as the score.

The offline demo has no human-rated set. Its held-out content has codec
variants (H.264, H.265, VP9) whose VMAF against the clean clip the evaluation
stage computed; written out as video files with a ``labels.txt`` (the
FAST-VQA / DOVER layout), they go through exactly the path a KoNViD-1k user
takes: label file -> decode -> score -> metrics. VMAF is a full-reference
*proxy*, not human opinion: the report says so.

Each variant is regenerated from its stored parameters (pixels are never
stored) and written losslessly (FFV1, RGB), so the decoded frames are the
frames the run scored.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from w2s.core import io
from w2s.core.errors import W2SError
from w2s.core.progress import progress
from w2s.labelled.set import LabelledSet

log = logging.getLogger(__name__)

SCORE_NAME = "VMAF proxy"  # short: it labels a plot axis; the report says it is full-reference, not MOS


def write_lossless(clip, path: Path) -> None:
    """The clip's frames as an FFV1 RGB video (bit-exact on decode); written to a temp name, then renamed."""
    from imageio_ffmpeg import get_ffmpeg_exe

    frames = (clip.frames.clamp(0, 1) * 255.0).round().to(dtype=torch.uint8)
    _, _, h, w = frames.shape
    tmp = path.with_name(f".{path.name}.part")
    cmd = [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-framerate", f"{clip.fps or 25.0:.6f}", "-i", "pipe:0",
           "-c:v", "ffv1", "-pix_fmt", "bgr0", "-f", "matroska", str(tmp)]
    data = np.ascontiguousarray(frames.permute(0, 2, 3, 1).numpy()).tobytes()
    done = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise W2SError(f"ffmpeg could not write {path}: {done.stderr.decode(errors='replace')[-500:]}")
    tmp.replace(path)


def export_vmaf_proxy(run: str | Path, out: str | Path | None = None) -> Path:
    """Write ``out/videos/*.mkv`` and ``out/labels.txt`` (path, duration, fps, VMAF) for every codec variant
    of ``run``'s held-out set; returns the folder. Variants already written are kept (a rerun resumes)."""
    from distortions import make_distortions
    from w2s.media.decode import read_clip
    from w2s.run.context import open_run

    run = Path(run)
    ctx = open_run(run)
    config, folder = ctx.config, ctx.folder
    out = Path(out) if out else folder.study / "vmaf_proxy_videos"
    if not io.is_done(folder.evalset):
        raise W2SError(f"{run}: no finished held-out set (evalset/); a run with eval.source and eval.vmaf makes one")
    items = pd.read_parquet(folder.items("evalset"))
    if "vmaf" not in items or items.vmaf.isna().all():
        raise W2SError(f"{run}: the held-out set has no VMAF scores (eval.vmaf: true and a codec family make them)")
    items = items[items.vmaf.notna()]
    manifest = pd.read_parquet(folder.manifest("evalset")).set_index("id")
    ladders = config.eval_families()
    distortions = make_distortions({f: ladders[f] for f in sorted(set(items.family))})
    (out / "videos").mkdir(parents=True, exist_ok=True)
    lines = []
    for video_id, rows in progress(items.groupby("video_id", sort=True), "vmaf proxy", "video"):
        clip = None
        for row in rows.itertuples():
            name = f"{row.item_id.replace('#', '__').replace('@', '_')}.mkv"
            path = out / "videos" / name
            if not path.is_file():
                if clip is None:
                    clip = read_clip(manifest.path[video_id], config.pool.sampler,
                                     max_side=config.pool.max_side or None, clip_id=video_id)
                write_lossless(distortions[row.family].apply(clip, json.loads(row.params)), path)
            lines.append(f"videos/{name}, -1, -1, {row.vmaf:.6f}")
    io.write_text("\n".join(lines) + "\n", out / "labels.txt")
    return out


def vmaf_proxy_set(run: str | Path) -> LabelledSet:
    """The exported proxy set of ``run`` (exported first when missing), loaded as any labels.txt is."""
    from w2s.labelled import load_labelled_set

    root = export_vmaf_proxy(run)
    labelled = load_labelled_set(str(root / "labels.txt"), root, name="vmaf-proxy")
    labelled.score_name = SCORE_NAME
    labelled.mos_range = (0.0, 100.0)
    return labelled
