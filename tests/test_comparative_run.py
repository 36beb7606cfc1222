"""The comparative student end to end through the real entry point: `w2s run` trains it in the
round (on pixels regenerated from the stored params), `w2s score` scores files with its folder,
and a later run takes it as a `student:` teacher. A tiny random Qwen2-VL, 2 clips, 2 frames."""

import json

import numpy as np
import pandas as pd
import pytest

from w2s.cli import main


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from w2s.testing.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm("qwen2_vl", tmp_path_factory.mktemp("tiny_qwen2_vl"))


def _sets(*overrides):
    return [a for o in overrides for a in ("--set", o)]


def test_comparative_student_trains_in_a_run_scores_files_and_teaches(tiny_config, tiny_qwen, sample_pools, tmp_path,
                                                                      capsys):
    from distortions import make_distortions
    from students.comparative import ComparativeStudent, level_of, thurstone_map
    from w2s.media.decode import read_clip
    from w2s.run.train_comparative import ItemPixels

    cfg = str(tiny_config("comparative"))
    common = ["pool.limit=2", "pool.max_side=32", "rounds=1", "pairs.teacher_pairs=20", "hard_cases.teacher=4",
              "hard_cases.candidates=20", "teachers=[pyiqa:piqe]", "eval.limit=1", "eval.vmaf=false",
              "eval.ood={contrast: [0.7, 0.3]}"]
    comparative = [f"student.backbone=vlm:{tiny_qwen}", "student.hidden=8", "student.kind=comparative",
                   "student.comparative={anchors: 3, lora_rank: 2, pairs: 4, frames: 2, lr: 1.0e-3}"]
    assert main(["run", cfg, *_sets(*common, *comparative)]) == 0
    run = tmp_path / "runs" / "comparative"
    folder = run / "round_00" / "comparative"
    saved = json.loads((folder / "config.json").read_text())
    assert saved["kind"] == "comparative" and saved["base_model"] == str(tiny_qwen)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                        "anchors.safetensors", "config.json"]
    assert (run / "round_00" / "student" / "config.json").is_file()  # the head beside it, as before
    meta = saved["meta"]
    assert len(meta["history"]) == 4 and all(np.isfinite(h["loss"]) for h in meta["history"])
    assert 0 < meta["trainable_share"] < 0.05

    # the anchors: 3 pool items from the lowest consensus score to the highest, their frames regenerated
    items = pd.read_parquet(run / "label" / "items.parquet")
    scores = pd.read_parquet(run / "round_00" / "scores.parquet")
    anchors = saved["anchors"]
    assert len(anchors["item_ids"]) == 3 and set(anchors["item_ids"]) <= set(items.item_id)
    assert anchors["scores"] == sorted(anchors["scores"]) and anchors["scores"][0] < anchors["scores"][-1]
    assert meta["train_score_quantiles"][0] == anchors["scores"][0]
    assert meta["train_score_quantiles"][-1] == anchors["scores"][-1]
    student = ComparativeStudent.from_pretrained(folder)
    from w2s.config import load_run_config

    config = load_run_config(run)
    pixels = ItemPixels(items, pd.read_parquet(run / "manifest.parquet"), config.pool.sampler, config.pool.max_side,
                        make_distortions(config.distortions), frames=2)
    for item_id, frames in zip(anchors["item_ids"], student.anchor_frames):
        assert frames.equal(pixels(item_id)[0])  # the very pixels the label stage made, replayed
    # a distorted item's pixels differ from its clean clip's
    variant = items[items.family != ""].iloc[0]
    assert not pixels(variant.item_id)[0].equal(pixels(variant.video_id)[0])
    pairs = pd.read_parquet(run / "round_00" / "pairs.parquet")
    assert {level_of(1 - p) for p in pairs.p} >= {0, 4}  # the pairs span the levels it was taught
    assert len(scores) == len(items)

    # scored on the held-out set too: a row of the round's metrics, its scores those of the saved folder
    metrics = json.loads((run / "round_00" / "eval" / "metrics.json").read_text())
    assert {"comparative r0", "student r0", "ensemble"} <= set(metrics)
    held_out = pd.read_parquet(run / "evalset" / "items.parquet")
    eval_scores = pd.read_parquet(run / "round_00" / "eval" / "comparative_scores.parquet")
    assert eval_scores.item_id.tolist() == held_out.item_id.tolist() and eval_scores.score.notna().all()
    eval_pixels = ItemPixels(held_out, pd.read_parquet(run / "evalset_manifest.parquet"), config.pool.sampler,
                             config.pool.max_side, make_distortions({**config.distortions, **config.eval.ood}), frames=2)
    last = held_out.item_id.iloc[-1]
    assert last.endswith("@2") and eval_scores.score.iloc[-1] == pytest.approx(student.score(eval_pixels.clip(last)),
                                                                                abs=1e-5)

    # w2s score with the folder: Thurstone's fit of its K preferences, on the anchors' 0-100 scale
    clips = sorted(sample_pools["eval"].glob("*.mp4"))[:2]
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(folder), *map(str, clips), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert (df.status == "ok").all()
    clip = read_clip(clips[0], meta["sampler"], max_side=meta["max_side"])
    want = thurstone_map(student.preferences(clip), anchors["scores"])
    assert df.score.iloc[0] == pytest.approx(want, abs=1e-5)
    lo, hi = anchors["scores"][0], anchors["scores"][-1]
    assert df.score_100.iloc[0] == pytest.approx(float(np.clip(100 * (want - lo) / (hi - lo), 0, 100)), abs=1e-3)

    # a later run takes it as a teacher: its scores of the pool are the student's own
    later = ["name=later", "student.kind=single", f"teachers=[pyiqa:piqe, 'student:{folder}']"]
    assert main(["run", cfg, *_sets(*common, *later), "--stop-after", "label"]) == 0
    labelled = pd.read_parquet(tmp_path / "runs" / "later" / "label" / "items.parquet")
    column = labelled[f"score:student:{folder}"]
    assert column.notna().all() and column.nunique() > 1
    first = labelled.iloc[0]
    replay = ItemPixels(labelled, pd.read_parquet(tmp_path / "runs" / "later" / "manifest.parquet"),
                        config.pool.sampler, config.pool.max_side, make_distortions(config.distortions), frames=2)
    assert column.iloc[0] == pytest.approx(student.score(replay.clip(first.item_id)), abs=1e-5)


def test_comparative_needs_a_vlm_backbone(tiny_config, capsys):
    cfg = str(tiny_config("comparative_bad"))
    assert main(["run", cfg, "--set", "student.kind=comparative"]) == 2
    err = capsys.readouterr().err
    assert "student.kind: comparative needs student.backbone: vlm:PATH" in err and "efficientnet_lite0" in err
    assert main(["run", cfg, "--set", "student.kind=pairwise"]) == 2
    assert "student.kind: 'pairwise' is not one of single, comparative" in capsys.readouterr().err
    vlm = ["--set", "student.kind=comparative", "--set", "student.backbone=vlm:/nowhere"]
    assert main(["run", cfg, *vlm, "--set", "student.comparative.thresholds=[0.9, 0.3, 0.5, 0.1]"]) == 2
    assert "student.comparative.thresholds [0.9, 0.3, 0.5, 0.1] must be four numbers" in capsys.readouterr().err
    assert main(["run", cfg, *vlm, "--set", "student.comparative.anchors=1"]) == 2
    assert "anchors must be at least 2" in capsys.readouterr().err


def test_the_paper_comparative_config_names_the_model_folder_it_needs():
    from w2s.config import load_config
    from w2s.core.errors import MissingWeightsError
    from w2s.run.context import check_names

    config = load_config("configs/w2s_paper_comparative.yaml")
    assert config.student.kind == "comparative" and config.student.comparative.anchors == 5
    assert config.student.comparative.thresholds == [0.9, 0.6, 0.4, 0.1]
    with pytest.raises(MissingWeightsError, match="no model folder at models/Qwen2.5-VL-7B-Instruct"):
        check_names(config)


@pytest.mark.slow
def test_comparative_student_trains_with_two_processes(tiny_config, tiny_qwen, tmp_path):
    """`accelerate launch` with gloo on the CPU: the LoRA adapters train through DDP, each process on
    every pair (a step is one pair: the steps of one process), and both share the held-out scoring."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.test_distributed import free_port

    config = tiny_config("ddp_comparative")
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "w2s", "run", str(config),
           *_sets("pool.limit=2", "pool.max_side=32", "rounds=1", "pairs.teacher_pairs=20", "hard_cases.teacher=4",
                  "hard_cases.candidates=20", "teachers=[pyiqa:piqe]", "eval.limit=1", "eval.vmaf=false",
                  "eval.ood={contrast: [0.7, 0.3]}", f"student.backbone=vlm:{tiny_qwen}", "student.hidden=8",
                  "student.kind=comparative", "student.comparative={anchors: 3, lora_rank: 2, pairs: 5, frames: 2}")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1],
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "ddp_comparative"
    saved = json.loads((run / "round_00" / "comparative" / "config.json").read_text())
    assert saved["meta"]["pairs"] == 5 and len(saved["meta"]["history"]) == 5  # one process's 5 steps
    assert "which 2 processes cannot split" in done.stderr
    scores = pd.read_parquet(run / "round_00" / "eval" / "comparative_scores.parquet")
    assert scores.score.notna().all()
    assert "comparative r0" in json.loads((run / "round_00" / "eval" / "metrics.json").read_text())
