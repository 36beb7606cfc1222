"""Why features are cached: an epoch on cached features against the same epoch through the backbone.

    python benchmarks/student.py [--backbone efficientnet_lite0 | timm:NAME | vlm:PATH | tiny:qwen2_vl]
                                 [--videos 4] [--pairs 512] [--batch 64] [--anchors K]

On real clips of the quickstart pool and their distorted variants, prints the
time to embed one clip with the frozen backbone (plus motion features), the
time of one training epoch of the calibration head on the cached features, and
the same epoch with every batch's items embedded through the backbone (what
training without a cache costs; the backbone is frozen either way, so both
epochs compute the same gradients). ``tiny:FAMILY`` builds a tiny random VLM
offline (the code path of a real checkpoint, not its speed).

With a ``vlm:`` or ``tiny:`` backbone it also prints what scoring one video costs
with the comparative student (``student.kind: comparative``, untrained LoRA
adapters: the cost does not depend on the weights) against the single-pass VLM
student: K forward passes of two-video inputs (``--anchors K``, the
student's frames per video = ``--frames``) plus the Thurstone fit, against one
pass over one video, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch


def epoch(head, optimizer, pairs, batch: int, features_of) -> float:
    """One pass over ``pairs`` (N, 2) with the fidelity loss; ``features_of(rows)`` gives (len(rows), dim)."""
    from w2s.run.losses import LOSSES

    loss_fn = LOSSES["fidelity"]
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        uniq, where = torch.unique(chunk.flatten(), return_inverse=True)
        scores = head(features_of(uniq))[where.view(-1, 2)]
        loss = loss_fn(scores[:, 0], scores[:, 1], torch.ones(len(chunk))).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def main(argv=None) -> int:
    from distortions import DISTORTIONS
    from students.calibration import CalibrationHead
    from students.student import build_perception
    from w2s.media.decode import read_clip
    from w2s.media.samplers import UniformSampler
    from w2s.media.samples import build_samples
    from w2s.media.scan import scan_pool

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--anchors", type=int, default=5, help="K of the comparative student (vlm: backbones)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="w2s-bench-student-"))
    spec = args.backbone
    if spec.startswith("tiny:"):
        from w2s.testing.tiny_vlm import build_tiny_vlm

        spec = "vlm:" + str(build_tiny_vlm(spec.partition(":")[2], work / "tiny_vlm"))
    perception = build_perception(spec, {}, {"motion": True})

    build_samples(work / "pool", split="train", seed=0, progress=False)
    entries = sorted(scan_pool(work / "pool"), key=lambda e: e.id)[: args.videos]
    clips = []
    families = {"blur": [1.0, 3.0], "noise": [0.02, 0.08], "jpeg": [30, 5]}
    for e in entries:
        clip = read_clip(e.path, UniformSampler(args.frames), max_side=args.max_side, clip_id=e.id)
        clips.append(clip)
        for family, ladder in families.items():
            d = DISTORTIONS.resolve(family)(ladder=ladder)
            clips += [d.apply(clip, d.params(level, 0)) for level in range(1, d.levels + 1)]

    start = time.perf_counter()
    features = torch.stack([perception.embed_with_base(c)[0] for c in clips])
    embed_s = (time.perf_counter() - start) / len(clips)

    pairs = torch.randint(0, len(clips), (args.pairs, 2))
    head = CalibrationHead(perception.dim, hidden=128)
    head.set_normalization(features)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
    cached_s = epoch(head, optimizer, pairs, args.batch, lambda rows: features[rows])

    def through_backbone(rows):
        with torch.no_grad():  # frozen: no gradient reaches it in either epoch
            return torch.stack([perception.embed(clips[int(r)]) for r in rows])

    e2e_s = epoch(head, optimizer, pairs, args.batch, through_backbone)

    lines = [
        (
            f"{spec}: {len(clips)} items ({args.videos} clips x {1 + sum(map(len, families.values()))}), "
            f"{args.frames} frames at {args.max_side} px, {args.pairs} pairs, batch {args.batch}, "
            f"{perception.dim} features, {torch.get_num_threads()} torch threads"
        ),
        f"{'embed one item (backbone + motion)':44s} {embed_s * 1000:9.1f} ms",
        f"{'epoch on cached features':44s} {cached_s:9.3f} s",
        f"{'epoch through the backbone':44s} {e2e_s:9.3f} s",
        f"{'through the backbone / cached':44s} {e2e_s / cached_s:9.0f} x",
    ]
    if spec.startswith("vlm:"):
        lines += comparative_cost(spec, perception, clips, args.anchors, args.frames)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def comparative_cost(spec: str, perception, clips, k: int, frames: int) -> list[str]:
    """Seconds per scored video: the single-pass VLM student (one forward) against the comparative
    student (K two-video forwards against anchors, plus the Thurstone fit)."""
    import numpy as np

    from students.comparative import (
        ComparativeStudent,
        ComparativeVLM,
        frames_uint8,
        scale_quantiles,
    )
    from students.student import build_perception

    single = build_perception(spec, {"max_frames": frames}, {})  # the VLM alone, as the single student runs it
    model = ComparativeVLM(spec.removeprefix("vlm:"), lora={"rank": 8, "alpha": 16.0,
                                                             "targets": ["q_proj", "k_proj", "v_proj", "o_proj"]}).merge()
    anchors = [frames_uint8(c, frames) for c in clips[:k]]
    scores = np.linspace(-1.0, 1.0, len(anchors))
    config = {"base_model": spec.removeprefix("vlm:"), "frames": frames,
              "anchors": {"scores": scores.tolist(), "fps": [float(c.fps) for c in clips[:k]]},
              "meta": {"train_score_quantiles": scale_quantiles(scores)}}
    student = ComparativeStudent(config, anchors, model)
    timed = clips[k : k + 8] or clips[:8]
    student.score(timed[0]), single.embed_with_base(timed[0])  # warm-up
    # interleaved, each video timed both ways in turn, 3 times; the medians (a shared machine's load
    # moves both alike)
    single_t, comparative_t = [], []
    for _ in range(3):
        for c in timed:
            start = time.perf_counter()
            single.embed_with_base(c)
            single_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            student.score(c)
            comparative_t.append(time.perf_counter() - start)
    single_s, comparative_s = float(np.median(single_t)), float(np.median(comparative_t))
    return [
        f"scoring one video (median of {len(single_t)}), {frames} frames per video:",
        f"{'  single-pass VLM student (1 pass)':44s} {single_s * 1000:9.1f} ms",
        f"{f'  comparative student ({len(anchors)} pair passes)':44s} {comparative_s * 1000:9.1f} ms",
        f"{'  comparative / single-pass':44s} {comparative_s / single_s:9.1f} x",
    ]


if __name__ == "__main__":
    sys.exit(main())
