"""Several backbones through a whole run, and `w2s select-backbones`, end to end on the tiny run."""

import json

import pandas as pd
import pytest
import torch

from w2s.cli import main

PAIR = "[efficientnet_lite0, efficientnet_lite2]"


def test_a_list_of_backbones_runs_saves_scores_and_teaches(tiny_config, sample_pools, tmp_path):
    config = tiny_config("multi")
    assert main(["run", str(config), "--set", f"student.backbone={PAIR}", "--set", "rounds=2",
                 "--set", "eval.source=none"]) == 0
    run = tmp_path / "runs" / "multi"
    info = json.loads((run / "label" / "backbone.json").read_text())
    assert info["name"] == "efficientnet_lite0,efficientnet_lite2+motion"
    assert [n for n, _ in info["blocks"]] == [4128, 4272, 12]
    saved = json.loads((run / "round_01" / "student" / "config.json").read_text())
    assert saved["backbone"] == ["efficientnet_lite0", "efficientnet_lite2"]
    assert saved["head"]["blocks"] == info["blocks"]
    assert "`efficientnet_lite0,efficientnet_lite2`" in (run / "round_01" / "student" / "README.md").read_text()

    # w2s score and a student: teacher rebuild both backbones and give the student's own score
    from teachers import make_teacher
    from w2s.media.decode import read_clip
    from w2s.media.samplers import UniformSampler

    clip_path = sorted(p for p in sample_pools["eval"].iterdir() if p.suffix == ".mp4")[0]
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(run / "round_01" / "student"), str(clip_path), "--out", str(out)]) == 0
    teacher = make_teacher(f"student:{run / 'round_01' / 'student'}")
    want = teacher.score(read_clip(clip_path, UniformSampler(2), max_side=96))
    assert float(pd.read_csv(out).score[0]) == pytest.approx(want, rel=1e-5)


def test_select_backbones_ranks_singles_and_pairs(tiny_config, tmp_path, capsys):
    config = tiny_config("pick")
    assert main(["run", str(config), "--stop-after", "pairs:0", "--set", "eval.source=none"]) == 0
    run = tmp_path / "runs" / "pick"
    capsys.readouterr()
    assert main(["select-backbones", str(run), "--candidates", "efficientnet_lite0", "efficientnet_lite2"]) == 0
    printed = capsys.readouterr().out
    assert "keep: student.backbone:" in printed
    table = pd.read_csv(run / "backbones" / "selection.csv")
    assert len(table) == 3 and table.keep.sum() == 1 and bool(table.keep.iloc[0])
    assert sorted(map(tuple, table.backbones.map(json.loads))) == [
        ("efficientnet_lite0",), ("efficientnet_lite0", "efficientnet_lite2"), ("efficientnet_lite2",)]
    assert table["mean"].is_monotonic_decreasing
    assert table[["within", "across"]].notna().all().all()
    assert ((table.within >= 0) & (table.within <= 1)).all()
    # the run's own backbone reuses the label stage's features; the other is embedded once, cached
    from w2s.core import io

    same = io.read_tensors(run / "backbones" / "efficientnet_lite0" / "features.safetensors")["features"]
    assert torch.equal(same, io.read_tensors(run / "label" / "features.safetensors")["features"])
    lite2 = io.read_tensors(run / "backbones" / "efficientnet_lite2" / "features.safetensors")["features"]
    assert lite2.shape == (len(same), 4272 + 12)
    # a rerun reads the caches and gives the same table
    assert main(["select-backbones", str(run), "--candidates", "efficientnet_lite0", "efficientnet_lite2"]) == 0
    assert pd.read_csv(run / "backbones" / "selection.csv").equals(table)


def test_select_backbones_needs_round_0_pairs(tiny_config, tmp_path, capsys):
    config = tiny_config("early")
    assert main(["run", str(config), "--stop-after", "label", "--set", "eval.source=none"]) == 0
    capsys.readouterr()
    assert main(["select-backbones", str(tmp_path / "runs" / "early"), "--candidates", "efficientnet_lite2"]) == 2
    assert "pairs:0" in capsys.readouterr().err
