"""Real launches of several processes: `accelerate launch` with gloo on the CPU.

Every shipped Accelerate config, and the README's flag line, starts the processes it says, and
its two-machine command joins one world; two processes label the pool once and learn the
students one process learns (up to the order of float sums); the comparative student trains one
process's steps under several (pretended in process), and calibrate refuses them. Slow tier: a
two-process training killed after a checkpoint resumes to the same weights, and a checkpoint
resumes under another number of processes.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from w2s.core.io import read_tensors

REPO = Path(__file__).parents[1]
CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))
CPU_2PROC = REPO / "configs" / "accelerate" / "cpu_2proc.yaml"
# one thread per process: two processes on a 2-core machine
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
# the README's line without a config file: `--cpu --num_processes 2` would silently run one process.
# Port 0: the launcher picks a free one (a fixed port collides when two runs of the suite share a machine)
FLAGS = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "0"]
# how far apart the scores of students trained by 1 and by 2 processes may be, in standard deviations of
# the scores. Not 1e-4: the processes add their parts of each gradient in another order than one process
# sums the batch, and training amplifies such last-bit differences; one process on 2 torch threads
# instead of 1 moves its own students as far. Measured on the tiny pool (2-core CPU dev machine,
# 2026-12-05): this test's 1 process on 2 threads against 2 on 1: 1.3e-4 (round 0) and 2.8e-4 (round 1);
# 1 process on 1 thread against 2: 4.9e-5 and 1.7e-4; 1 process on 1 thread against 2 threads: 1.8e-4 and
# 1.1e-4. The old per-process batches and schedule: SRCC 0.896 between the two students (issue 21).
AGREEMENT = 1e-3


def free_port() -> int:
    """A TCP port free on the loopback right now (tests/test_comparative_run.py's launch): bind to port
    0, let the kernel pick, release it. The launches here pass port 0 and let the launcher pick."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(how: list[str], *command: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``accelerate launch HOW COMMAND`` from the repository root (``how``: a config file or flags)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *how, *command]
    done = subprocess.run(cmd, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=400, cwd=REPO,
                          check=False)
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done


# each shipped config as the README launches it, and the README's flag line (which needs the CPU flag
# in the environment: `--multi_gpu` alone would look for GPUs)
LAUNCHES = {p.name: (["--config_file", str(p)], {}) for p in CONFIGS}
LAUNCHES["flags"] = (FLAGS, {"ACCELERATE_USE_CPU": "1"})


def processes_of(how: list[str]) -> tuple[int, bool]:
    """(the number of processes a launch asks for, whether it asks for the CPU)."""
    if how[0] == "--config_file":
        config = yaml.safe_load(Path(how[1]).read_text())
        return int(config["num_processes"]), bool(config.get("use_cpu"))
    return int(how[how.index("--num_processes") + 1]), True


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_each_launch_style_starts_the_processes_it_says(name):
    how, env = LAUNCHES[name]
    n, cpu = processes_of(how)
    if not cpu and torch.cuda.device_count() < n:
        pytest.skip(f"{name} launches {n} GPU processes; this machine has {torch.cuda.device_count()} GPU(s)")
    done = launch(how, "-m", "tests.launched_world_size", env=env)
    # the processes share one stdout: their lines may interleave, so each is found by its pattern
    reached = sorted(re.findall(r"process \d+ of \d+", done.stdout))
    assert n > 1 and reached == [f"process {rank} of {n}" for rank in range(n)], done.stdout + done.stderr[-2000:]


def test_the_readmes_two_machine_command_joins_one_world():
    """Two launchers on this machine stand for two machines (machine_rank 0 and 1, the first one's
    address and port): their processes form one world of 2, ranks 0 and 1."""
    port = str(free_port())
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_2PROC), "--num_machines", "2",
           "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", port]
    machines = [subprocess.Popen([*cmd, "--machine_rank", str(rank), "-m", "tests.launched_world_size"], env=ENV,
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for rank in (0, 1)]
    outs = [m.communicate(timeout=400) for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    reached = [hit for out, _ in outs for hit in re.findall(r"process \d+ of \d+", out)]
    assert reached == ["process 0 of 2", "process 1 of 2"]  # machine 0 holds rank 0, machine 1 rank 1


def student_scores(run: Path, k: int) -> np.ndarray:
    """Round ``k``'s student's residual on the run's pool features (the base and prior are the labels')."""
    from w2s.run.round import load_head
    from w2s.run.train import score_items

    features = read_tensors(run / "label" / "features.safetensors")["features"]
    return score_items(load_head(run / f"round_{k:02d}" / "student"), features)


def test_two_processes_label_the_pool_once_and_learn_the_students_of_one(tiny_config, tmp_path):
    config = tiny_config("ddp")
    done = launch(["--config_file", str(CPU_2PROC)], "-m", "w2s", "run", str(config), "--set", "eval.source=none")
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
    one = subprocess.run([sys.executable, "-m", "w2s", "run", str(tiny_config("single")), "--set", "eval.source=none"],
                         env={**ENV, "OMP_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=400, cwd=REPO,
                         check=False)
    assert one.returncode == 0 and "1 process(es)" in one.stderr, one.stderr[-3000:]
    single = tmp_path / "runs" / "single"
    pd.testing.assert_frame_equal(items, pd.read_parquet(single / "label" / "items.parquet"), check_exact=True)
    features = [read_tensors(r / "label" / "features.safetensors")["features"] for r in (run, single)]
    assert torch.equal(*features)
    pairs = [pd.read_parquet(r / "round_00" / "pairs.parquet") for r in (run, single)]
    pd.testing.assert_frame_equal(*pairs, check_exact=True)  # built before any training

    # and learns the same students, up to the order of float sums (AGREEMENT)
    for k in (0, 1):
        two, alone = student_scores(run, k), student_scores(single, k)
        assert np.abs(two - alone).max() <= AGREEMENT * alone.std(), (k, np.abs(two - alone).max() / alone.std())
        one_log, two_log = (json.loads((r / f"round_{k:02d}" / "train_log.json").read_text()) for r in (single, run))
        np.testing.assert_allclose(two_log["epoch_loss"], one_log["epoch_loss"], rtol=1e-4)  # the whole batch's loss


# ----------------------------------------------------------------------------- kill and resume (slow)

def case_tensors(folder: Path) -> list[dict[str, torch.Tensor]]:
    """What tests/launched_training.py wrote: per case its head, its scores and its epoch losses."""
    from tests.launched_training import CASES

    return [read_tensors(folder / f"case_{k}.safetensors") for k in range(len(CASES))]


def train_launched(how: list[str] | None, out: Path, checkpoints: Path, die_after: int | None = None,
                   check: bool = True) -> subprocess.CompletedProcess:
    """tests/launched_training.py under ``accelerate launch HOW`` (None: one plain process)."""
    out.mkdir(parents=True, exist_ok=True)
    args = ["-m", "tests.launched_training", str(out), str(checkpoints)] + ([] if die_after is None else [str(die_after)])
    if how is not None:
        return launch(how, *args, check=check)
    done = subprocess.run([sys.executable, *args], env=ENV, capture_output=True, text=True, timeout=400, cwd=REPO,
                          check=False)
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_a_two_process_training_killed_after_a_checkpoint_resumes_to_the_same_weights(tmp_path):
    two = ["--config_file", str(CPU_2PROC)]
    train_launched(two, tmp_path / "whole", tmp_path / "whole_state")
    killed = train_launched(two, tmp_path / "killed", tmp_path / "state", die_after=2, check=False)
    assert killed.returncode != 0 and not (tmp_path / "killed" / "case_0.safetensors").exists()
    assert json.loads((tmp_path / "state" / "case_0" / "progress.json").read_text())["epochs_done"] == 2
    resumed = train_launched(two, tmp_path / "killed", tmp_path / "state")
    assert "training resumed at epoch 2 of 4" in resumed.stderr
    for whole, again in zip(case_tensors(tmp_path / "whole"), case_tensors(tmp_path / "killed"), strict=True):
        assert whole.keys() == again.keys() and all(torch.equal(whole[k], again[k]) for k in whole)


@pytest.mark.slow
def test_a_checkpoint_of_one_process_resumes_under_two(tmp_path):
    """The schedule counts the steps of the whole batch and every process restores the main process's
    random states, so a training checkpointed by one process finishes under two (where Accelerate has
    no random-state file for the second process) as one process would, up to float order."""
    train_launched(None, tmp_path / "whole", tmp_path / "whole_state")
    killed = train_launched(None, tmp_path / "killed", tmp_path / "state", die_after=2, check=False)
    assert killed.returncode == -9 and not (tmp_path / "state" / "case_0" / "random_states_1.pkl").exists()
    resumed = train_launched(["--config_file", str(CPU_2PROC)], tmp_path / "killed", tmp_path / "state")
    assert "training resumed at epoch 2 of 4" in resumed.stderr
    whole, again = case_tensors(tmp_path / "whole")[0], case_tensors(tmp_path / "killed")[0]
    # measured (2-core CPU dev machine, 2026-12-05): 1.6e-4 of the scores' spread; 3.7e-3 when the second
    # process keeps its own random state (its dropout masks then differ from the first's), and the old
    # per-process batches and schedule move it by tenths. This training amplifies float order more than
    # the pool's (few steps, dropout 0.3): a 1e-7 relative change of its features moves it by 2.7e-3
    assert (whole["scores"] - again["scores"]).abs().max() <= 2e-3 * whole["scores"].std()


# ----------------------------------------------------------------------------- the comparative student, calibrate

class PairModel:
    """Stands in for ComparativeVLM in fit_adapters: a two-clip 'prompt' of three tokens (each clip's
    first pixel, then the target level) and a tiny trainable next-token model."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Embedding(256, 8), torch.nn.Linear(8, 256))

    def pair_inputs(self, first, second, fps, target):
        tokens = torch.tensor([[int(first.flatten()[0]), int(second.flatten()[0]), target]])
        return {"tokens": tokens, "labels": torch.tensor([[-100, -100, target]])}


class Logits(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, tokens):
        return type("Out", (), {"logits": self.net(tokens)})()


def test_the_comparative_student_trains_every_pair_in_order_whatever_the_number_of_processes(caplog):
    """A step is one pair, which processes cannot split: process 1 of 2 trains the pairs one process
    trains, in its order, to the same adapters (the old split gave each process alternate pairs)."""
    from types import SimpleNamespace

    from tests.test_train import Pretend
    from w2s.run.train import default_accelerator
    from w2s.run.train_comparative import fit_adapters

    chosen = pd.DataFrame({"a": ["v1", "v2", "v3", "v4", "v5"], "b": ["v5", "v4", "v1", "v2", "v3"],
                           "p": [0.95, 0.2, 0.5, 0.7, 0.05]})
    c = SimpleNamespace(lr=1e-2, thresholds=[0.9, 0.6, 0.4, 0.1], confidence_weight=0.0)

    def fit(accelerator):
        seen, model = [], PairModel()
        model.model = Logits(model.model)

        def pixels(item_id):
            seen.append(item_id)
            return torch.full((1, 2, 2, 3), int(item_id[1:]) * 40, dtype=torch.uint8), 1.0

        history, n_pairs = fit_adapters(model, chosen, pixels, c, 0, accelerator)
        return seen, history, n_pairs, [p.detach().clone() for p in model.model.parameters()]

    accelerator = default_accelerator()
    alone = fit(accelerator)
    assert "cannot split" not in caplog.text
    for rank in (0, 1):
        other = fit(Pretend(accelerator, rank, 2))
        assert alone[0] == other[0] == [v for pair in zip(chosen.a, chosen.b) for v in pair]
        assert alone[2] == other[2] == 5 and len(other[1]) == 5
        assert all(torch.equal(a, b) for a, b in zip(alone[3], other[3], strict=True))
    # said once, by the main process
    assert caplog.text.count("comparative student r0: its steps are one pair each, which 2 processes cannot split") == 1


def test_calibrate_refuses_a_launch_of_several_processes(monkeypatch, tmp_path):
    from w2s.core.errors import W2SError
    from w2s.study.calibrate import calibrate

    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun (accelerate launch) gives each process
    with pytest.raises(W2SError) as e:
        calibrate(tmp_path / "student", None, tmp_path / "out")  # refused before anything is read
    assert str(e.value) == ("w2s calibrate runs in one process, but it was launched as one of 2: run it without "
                            "`accelerate launch` (its trainings take seconds; the GPU, if any, is used by --device)")
    assert not (tmp_path / "out").exists()
