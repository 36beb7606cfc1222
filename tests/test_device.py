"""--device on every command and w2s.load: one resolution (w2s.core.device), and files decoded ahead
while the model scores (w2s.media.prefetch) without changing a score or its order. These machines
have no GPU: CUDA is faked by patching torch.cuda, never used."""

import threading
import time

import numpy as np
import pytest
import torch

import w2s
from w2s.api import Scorer
from w2s.cli import main
from w2s.core.device import resolve_device
from w2s.core.errors import ConfigError, InputError, W2SError
from w2s.media.prefetch import read_ahead


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_a_gpu_and_names_pass_through(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_takes_cuda_when_torch_sees_one(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_a_missing_device_is_an_error_naming_it_and_what_there_is(no_gpu):
    with pytest.raises(ConfigError) as err:
        resolve_device("cuda")
    assert str(err.value) == ("device 'cuda' asked for, but torch sees no CUDA GPU on this machine (available: cpu); "
                              "pass --device auto (device='auto' in Python) or cpu")
    with pytest.raises(ConfigError, match="'mps' asked for, but torch sees no Apple MPS device"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match="'gpu0' is not a device torch knows: use auto, cpu, cuda, cuda:N or mps"):
        resolve_device("gpu0")
    with pytest.raises(ConfigError, match="'meta' is not supported here"):
        resolve_device("meta")


def test_a_gpu_index_beyond_the_count_is_an_error(two_gpus):
    with pytest.raises(ConfigError) as err:
        resolve_device("cuda:3")
    assert "'cuda:3' asked for, but torch sees 2 CUDA GPU(s)" in str(err.value)
    assert "2 CUDA GPUs (cuda:0..cuda:1), cpu" in str(err.value)


def test_load_defaults_to_auto(monkeypatch, two_gpus):
    """w2s.load() with no device puts a teacher on the GPU torch sees (built here as a stand-in)."""
    import teachers

    asked = []
    monkeypatch.setattr(teachers, "make_teacher", lambda spec, device=None, **kw: asked.append(device) or object())
    w2s.load("pyiqa:entropy")
    w2s.load("pyiqa:entropy", device="cpu")
    assert asked == ["cuda", "cpu"]


@pytest.mark.parametrize("argv", [
    ["score", "--model", "pyiqa:entropy", "x.png", "--out", "x.csv"],
    ["evaluate", "--model", "pyiqa:entropy", "--dataset", "konvid1k", "--root", "nowhere", "--out", "ev"],
    ["study", "no_run", "--dataset", "k=konvid1k:nowhere"],
    ["calibrate", "no_student", "--dataset", "konvid1k", "--root", "nowhere", "--out", "cal"],
    ["select-backbones", "no_run", "--candidates", "efficientnet_lite0"],
])
def test_every_command_refuses_a_missing_gpu_with_one_line_and_exit_2(argv, no_gpu, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("w2s: error: device 'cuda' asked for") and "available: cpu" in err
    assert not any(tmp_path.iterdir())  # refused before any work: nothing written


def test_score_hands_the_resolved_device_on(monkeypatch, no_gpu, tmp_path):
    import w2s.score

    seen = {}

    def fake(model, inputs, **kwargs):
        seen.update(kwargs)
        raise W2SError("stop here")

    monkeypatch.setattr(w2s.score, "score_paths", fake)
    assert main(["score", "--model", "pyiqa:entropy", "x.png", "--out", str(tmp_path / "x.csv")]) == 2
    assert seen["device"] == "cpu"  # auto, resolved on this machine


# ---------------------------------------------------------------- decoding ahead


def test_read_ahead_keeps_the_order_and_hands_back_failures():
    def read(i):
        time.sleep(0.02 * ((7 * i) % 3))  # later items often finish first
        if i == 4:
            raise ValueError("bad 4")
        return i * 10

    out = list(read_ahead(range(9), read, workers=2, ahead=3))
    assert [i for i, _ in out] == list(range(9))
    assert [r for _, r in out if not isinstance(r, Exception)] == [0, 10, 20, 30, 50, 60, 70, 80]
    assert isinstance(out[4][1], ValueError) and str(out[4][1]) == "bad 4"


def test_read_ahead_is_bounded_and_runs_in_threads():
    started, threads = [], set()
    lock = threading.Lock()

    def read(i):
        with lock:
            started.append(i)
            threads.add(threading.current_thread().name)
        return i

    gen = read_ahead(range(50), read, workers=2, ahead=3)
    assert next(gen) == (0, 0)
    time.sleep(0.1)
    assert len(started) <= 4 + 1  # the one handed over, 3 ahead, and the one submitted before handing over
    rest = [r for _, r in gen]
    assert rest == list(range(1, 50))
    assert threads and all(name.startswith("decode") for name in threads)


@pytest.fixture
def mean_scorer():
    """A Scorer whose model is the mean pixel (fast, exact): what matters is which clip gets which score."""

    class Mean:
        def score(self, clip):
            return float(clip.frames.mean())

    def make(workers: int) -> Scorer:
        scorer = Scorer("mean", Mean(), {"name": "uniform", "num_frames": 2}, 48, None, {"kind": "teacher"})
        scorer.decode_workers = workers
        return scorer

    return make


def test_score_files_gives_the_same_scores_in_order_with_and_without_prefetch(mean_scorer, sample_pools, tmp_path):
    clips = sorted(sample_pools["eval"].glob("*.mp4"))[:4]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    paths = [*clips[:2], bad, tmp_path / "missing.mp4", *clips[2:]]
    one_by_one = mean_scorer(0).score_files(paths, progress=False)
    ahead = mean_scorer(2).score_files(paths, progress=False)
    assert ahead.path.tolist() == one_by_one.path.tolist() == list(map(str, paths))
    assert ahead.status.tolist() == ["ok", "ok", "failed", "failed", "ok", "ok"]
    assert np.array_equal(ahead.score.to_numpy(), one_by_one.score.to_numpy(), equal_nan=True)
    assert ahead.error.tolist() == one_by_one.error.tolist()
    # a list through __call__: the same numbers, and the first bad file raises (as it did)
    ok = [str(p) for p in paths if p not in (bad, tmp_path / "missing.mp4")]
    assert mean_scorer(2)(ok).tolist() == ahead.score[ahead.status == "ok"].tolist()
    with pytest.raises(InputError, match="no such file"):
        mean_scorer(2)([clips[0], tmp_path / "missing.mp4", clips[1]])
