"""The Q-CLIP student end to end through `w2s run` and `w2s score`, on a tiny random CLIP."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from w2s.cli import main


def test_qclip_student_runs_scores_and_teaches(tiny_config, tiny_clip, tmp_path, capsys):
    from students.quality_prompts import QualityPromptHead
    from students.student import Student
    from teachers import make_teacher
    from w2s.media.decode import read_clip
    from w2s.media.samplers import make_sampler

    sampler = {"name": "frame_difference", "num_frames": 2}
    overrides = [f"student.backbone=clip:{tiny_clip}", "student.head=quality_prompts", "student.hidden=8",
                 f"pool.sampler={json.dumps(sampler)}"]
    assert main(["run", str(tiny_config("qclip")), *[a for o in overrides for a in ("--set", o)]]) == 0
    run = tmp_path / "runs" / "qclip"
    backbone = json.loads((run / "label" / "backbone.json").read_text())
    assert backbone["name"] == f"clip:{tiny_clip}+motion" and backbone["dim"] == 16 + 12

    student = Student.from_pretrained(run / "round_01" / "student")
    assert isinstance(student.head, QualityPromptHead)
    saved = json.loads((run / "round_01" / "student" / "config.json").read_text())
    assert saved["head"]["kind"] == "quality_prompts" and saved["meta"]["sampler"] == sampler
    trainable = sum(p.numel() for p in student.head.parameters())
    assert trainable == 5 * 16 + (16 * 8 + 8) + (8 * 16 + 16) + 12 * 8
    assert student.meta["trainable_share"] == pytest.approx(trainable / backbone["parameters"])

    # `w2s score` on a held-out clip gives the score the run computed for it from cached features
    scored = pd.read_parquet(run / "round_01" / "eval" / "scores.parquet")
    manifest = pd.read_parquet(run / "evalset_manifest.parquet")
    video = manifest.iloc[0]
    want = scored.set_index("item_id").loc[video.id, "model:student r1"]
    assert 1 <= want <= 5 and scored["model:student r1"].nunique() > 1
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(run / "round_01" / "student"), video.path, "--out", str(out)]) == 0
    got = pd.read_csv(out).iloc[0]
    assert got.status == "ok" and got.score == pytest.approx(want, abs=1e-5)

    # ... and it teaches a later round as `student:PATH`, with that same score
    clip = read_clip(video.path, make_sampler(sampler), max_side=96)
    assert make_teacher(f"student:{run / 'round_01' / 'student'}").score(clip) == pytest.approx(want, abs=1e-5)
