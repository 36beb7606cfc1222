"""A real two-process run: `accelerate launch` with gloo on the CPU."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from w2s.core.io import read_tensors


def free_port() -> int:
    """A TCP port free on the loopback right now: bind to port 0, let the kernel pick, release it.

    A fixed port collides when two runs of the suite share a machine; the short window between
    closing this socket and the launcher binding the port is the usual price of this idiom.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_run_shares_labelling_and_trains_with_world_size_2(tiny_config, tmp_path):
    config = tiny_config("ddp")
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    # `--cpu --num_processes 2` would silently run one process: --multi_gpu with the CPU flag gives two
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", "w2s", "run", str(config), "--set", "eval.source=none",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    assert "2 process(es)" in done.stderr
    for k in (0, 1):
        log = json.loads((run / f"round_{k:02d}" / "train_log.json").read_text())
        assert log["num_processes"] == 2
        assert (run / f"round_{k:02d}" / "student" / "README.md").exists()  # the model card: the round's last file
    items = pd.read_parquet(run / "label" / "items.parquet")
    assert items.video_id.nunique() == 4 and items.item_id.is_unique  # each video labelled once

    # one process labels the same pool identically, every score and feature bit for bit, though on two
    # threads it labels two items at a time (two label workers) where each of the two above took one
    one = subprocess.run([sys.executable, "-m", "w2s", "run", str(tiny_config("single")), "--set", "eval.source=none",
                          "--stop-after", "label"], env={**env, "OMP_NUM_THREADS": "2"}, capture_output=True,
                         text=True, timeout=400, cwd=Path(__file__).parents[1], check=False)
    assert one.returncode == 0 and "1 process(es)" in one.stderr, one.stderr[-3000:]
    single = tmp_path / "runs" / "single" / "label"
    pd.testing.assert_frame_equal(items, pd.read_parquet(single / "items.parquet"), check_exact=True)
    features = [read_tensors(r / "features.safetensors")["features"] for r in (run / "label", single)]
    assert torch.equal(*features)
