"""`w2s run` killed with SIGKILL at points across stages and rounds, resumed each time, ends
with the results of an uninterrupted run, bit for bit; and the same config run twice gives
identical results (issue 12: kill and resume, determinism).

Every run is a fresh `python -m w2s run` on two torch threads, so the label stage runs its two
worker threads (where the nondeterminism used to come from) and each kill is a real SIGKILL.
Kill points are found by polling the run folder for the files each stage writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch

from w2s.core.io import read_tensors

REPO = Path(__file__).parents[1]
# more epochs than the tiny config's 4: a training then lasts long enough to be killed in
OVERRIDES = ["--set", "train.epochs=8", "--set", "train.checkpoint_every=1"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "w2s", "run", str(config), *OVERRIDES]


def run_to_end(config: Path) -> str:
    done = subprocess.run(command(config), env=ENV, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def kill_when(config: Path, ready: Callable[[], bool], timeout: float = 600) -> tuple[bool, str]:
    """Start a run and SIGKILL it as soon as ``ready()``; (killed, its stderr). Not killed: it finished first."""
    log = config.with_suffix(f".{time.monotonic_ns()}.log")
    with log.open("w") as err:
        proc = subprocess.Popen(command(config), env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        start = time.monotonic()
        try:
            while proc.poll() is None:
                if ready():
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return True, log.read_text()
                assert time.monotonic() - start < timeout, "the run neither reached the kill point nor ended"
                time.sleep(0.005)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
    return False, log.read_text()


def assert_same_results(a: Path, b: Path, rounds: int = 2) -> None:
    """Everything a run computes, equal bit for bit (file names differ only by the run's name)."""
    for split in ("label", "evalset"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / split / "items.parquet"),
                                      pd.read_parquet(b / split / "items.parquet"), check_exact=True, obj=f"{split} items")
        fa, fb = (read_tensors(r / split / "features.safetensors")["features"] for r in (a, b))
        assert torch.equal(fa, fb), f"{split} features differ"
    for k in range(rounds):
        ra, rb = a / f"round_{k:02d}", b / f"round_{k:02d}"
        for name in ("scores.parquet", "pairs.parquet", "eval/scores.parquet", *(["oof.parquet"] if k < rounds - 1 else [])):
            pd.testing.assert_frame_equal(pd.read_parquet(ra / name), pd.read_parquet(rb / name), check_exact=True,
                                          obj=f"round {k} {name}")
        for name in ("teachers.json", "eval/metrics.json", "train_log.json"):
            assert json.loads((ra / name).read_text()) == json.loads((rb / name).read_text()), f"round {k} {name}"
        assert (ra / "student" / "model.safetensors").read_bytes() == (rb / "student" / "model.safetensors").read_bytes(), \
            f"round {k} student weights"
        ca, cb = (json.loads((r / "student" / "config.json").read_text()) for r in (ra, rb))
        ca["meta"].pop("run"), cb["meta"].pop("run")
        assert ca == cb, f"round {k} student config"
        assert not (rb / "train_state").exists()  # the checkpoint goes once the student is saved


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sample_pools) -> Path:
    """An uninterrupted run of the tiny two-round config."""
    from tests.conftest import TINY_CONFIG

    root = tmp_path_factory.mktemp("reference")
    config = root / "reference.yaml"
    config.write_text(TINY_CONFIG.format(name="reference", out=root / "runs", train=sample_pools["train"],
                                         eval=sample_pools["eval"]))
    run_to_end(config)
    return root / "runs" / "reference"


def files(run: Path, pattern: str) -> Callable[[], bool]:
    return lambda: any(run.glob(pattern))


def kill_and_resume(config: Path, run: Path, points: list) -> dict:
    """Kill a run at each point in turn (each run resumes the previous), then let it finish."""
    hit, resumed = {}, []
    for name, ready, landed in points:
        killed, err = kill_when(config, ready)
        resumed.append(err)
        hit[name] = killed and landed()
    print("kill points hit:", hit)  # shown with -s: which kills landed inside their stage
    resumed.append(run_to_end(config))
    return {"hit": hit, "logs": "\n".join(resumed)}


def label_points(run: Path) -> list:
    return [("mid-label", files(run, "label/shards/*.parquet"), lambda: not (run / "label" / "DONE").exists())]


def training_point(run: Path, k: int) -> tuple:
    r = run / f"round_{k:02d}"
    return (f"mid-training r{k}", lambda: (r / "train_state").is_dir(), lambda: not (r / "student").exists())


def evaluation_point(run: Path, k: int) -> tuple:
    r = run / f"round_{k:02d}" / "eval"
    # the evaluation writes its per-item scores, then its metrics: a kill between the two is mid-evaluation
    return (f"mid-evaluation r{k}", lambda: (r / "scores.parquet").exists(), lambda: not (r / "metrics.json").exists())


def test_killed_mid_label_mid_training_and_mid_evaluation_resumes_to_the_same_results(reference, tiny_config, tmp_path):
    config = tiny_config("killed")
    run = tmp_path / "runs" / "killed"
    out = kill_and_resume(config, run, [*label_points(run), training_point(run, 1), evaluation_point(run, 1)])
    # a kill can land a moment late (the run had moved on): the label stage and a training
    # last seconds, so those must have been hit; the evaluation lasts a fraction of one
    assert out["hit"]["mid-label"] and out["hit"]["mid-training r1"], out["hit"]
    assert "training resumed at epoch" in out["logs"]  # from the checkpoint, not from the start
    assert_same_results(reference, run)


@pytest.mark.slow
def test_killed_at_every_stage_resumes_to_the_same_results(reference, tiny_config, tmp_path):
    config = tiny_config("killed_often")
    run = tmp_path / "runs" / "killed_often"
    points = [
        *label_points(run),
        ("mid-label evalset", files(run, "evalset/shards/*.parquet"), lambda: not (run / "evalset" / "DONE").exists()),
        training_point(run, 0),
        evaluation_point(run, 0),
        ("mid-out-of-fold r0", lambda: (run / "round_00" / "student" / "README.md").exists(), lambda: not (run / "round_00" / "oof.parquet").exists()),
        training_point(run, 1),
        evaluation_point(run, 1),
    ]
    out = kill_and_resume(config, run, points)
    assert out["hit"]["mid-label"] and out["hit"]["mid-label evalset"], out["hit"]
    assert_same_results(reference, run)


def test_the_same_config_twice_gives_identical_results(reference, tiny_config, tmp_path):
    """Same config, seed and machine: identical pseudo-labels, pairs, weights (bytes) and metrics."""
    run_to_end(tiny_config("again"))
    assert_same_results(reference, tmp_path / "runs" / "again")
