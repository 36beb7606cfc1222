"""The Python API: w2s.load for students and teachers, every input shape, errors that name the input."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import w2s
from students.calibration import CalibrationHead
from students.prior import TeacherPrior
from students.student import Student
from w2s.cli import main
from w2s.core.errors import InputError, W2SError
from w2s.media.decode import read_clip


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, backbone):
    """A saved student with a teacher prior, as a run writes it (seeded random linear head)."""
    torch.manual_seed(0)
    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    head.set_normalization(torch.randn(50, backbone.dim))
    meta = {"sampler": {"name": "uniform", "num_frames": 2}, "max_side": 96, "round": 2, "run": "demo",
            "train_score_quantiles": np.linspace(-2, 2, 101).tolist()}
    prior = TeacherPrior(["pyiqa:entropy"], [1.0], [6.0], [1.0], [{}])
    path = tmp_path_factory.mktemp("student") / "student"
    Student("efficientnet_lite0", head, backbone=backbone, meta=meta, prior=prior).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def clips(sample_pools):
    return sorted(sample_pools["eval"].glob("*.mp4"))[:2]


def test_a_teacher_scores_paths_frames_and_tensors_alike(clips):
    entropy = w2s.load("pyiqa:entropy")
    one = entropy(clips[0])
    assert isinstance(one, float)
    both = entropy([str(c) for c in clips])
    assert both.shape == (2,) and both[0] == pytest.approx(one)
    # the frames the scorer reads from the file, handed over in memory, score the same
    clip = read_clip(clips[0], {"name": "uniform", "num_frames": 8})
    as_uint8 = (clip.frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert entropy(as_uint8) == pytest.approx(one, abs=1e-6)
    assert entropy(clip.frames) == pytest.approx(one, abs=1e-6)
    assert entropy(as_uint8[0]) == pytest.approx(entropy(clip.frames[0]), abs=1e-6)  # one image
    assert entropy.meta == {"kind": "teacher", "name": "pyiqa:entropy", "sampler": {"name": "uniform", "num_frames": 8},
                            "max_side": None, "full_reference": False}


def test_a_student_scores_as_the_cli_does_and_has_a_0_100_scale(student_dir, clips, tmp_path):
    scorer = w2s.load(student_dir)
    assert scorer.meta["kind"] == "student" and scorer.meta["round"] == 2 and scorer.meta["prior"] == ["pyiqa:entropy"]
    assert scorer.meta["sampler"] == {"name": "uniform", "num_frames": 2} and scorer.meta["max_side"] == 96
    raw = scorer([str(c) for c in clips])
    assert main(["score", "--model", str(student_dir), *map(str, clips), "--out", str(tmp_path / "s.csv")]) == 0
    cli = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(cli.score, raw, rtol=1e-6)
    np.testing.assert_allclose(scorer.score_100([str(c) for c in clips]), np.interp(raw, np.linspace(-2, 2, 101), np.linspace(0, 100, 101)))
    # the student is residual + prior: the prior's teacher runs again on the file
    clip = read_clip(clips[0], {"name": "uniform", "num_frames": 2}, max_side=96)
    student = Student.from_pretrained(student_dir)
    with torch.no_grad():
        residual = float(student.head(student.backbone.embed(clip)[None])[0])
    entropy = w2s.load("pyiqa:entropy").model.score(clip)
    assert raw[0] == pytest.approx(residual + (entropy - 6.0) / 1.0, abs=1e-4)
    # student:PATH is the same model
    assert w2s.load(f"student:{student_dir}")(clips[0]) == pytest.approx(raw[0])


def test_a_copied_student_folder_scores_identically(student_dir, clips, tmp_path):
    copy = tmp_path / "elsewhere" / "my_student"
    shutil.copytree(student_dir, copy)
    assert w2s.load(copy)(clips[0]) == w2s.load(student_dir)(clips[0])


def test_score_files_keeps_going_past_a_bad_file(clips, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    df = w2s.load("pyiqa:entropy").score_files([clips[0], bad], progress=False)
    assert df.status.tolist() == ["ok", "failed"] and str(bad) in df.path.tolist()
    assert df.score.isna().tolist() == [False, True] and df.error[1]


@pytest.mark.parametrize("x, message", [
    ("/no/such/video.mp4", "/no/such/video.mp4: no such file"),
    (np.full((2, 32, 32, 3), 255.0, dtype=np.float32), "(2, 32, 32, 3) and dtype float32: float pixels must lie in [0, 1]"),
    (np.zeros((2, 32, 32), dtype=np.uint8), "(2, 32, 32) and dtype uint8: no colour axis of size 3"),
    (torch.full((1, 3, 8, 8), 2.0), "must lie in [0, 1], and these do not; for 0..255 values divide by 255"),
    (["a.mp4", 3], "item 1 is a int"),
    ({"frames": 1}, "cannot score a dict"),
])
def test_bad_input_names_itself(x, message):
    with pytest.raises(InputError) as err:
        w2s.load("pyiqa:entropy")(x)
    assert message in str(err.value)


def test_a_folder_is_not_a_video(tmp_path):
    with pytest.raises(InputError, match="is a folder; pass its files"):
        w2s.load("pyiqa:entropy")(tmp_path)


def test_load_errors():
    with pytest.raises(W2SError, match="neither a student folder"):
        w2s.load("runs/nothing_here")
    with pytest.raises(W2SError, match="no 0-100 scale"):
        w2s.load("pyiqa:entropy").score_100(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(W2SError, match="full-reference metric"):
        w2s.load("fr:psnr")(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    if not torch.cuda.is_available():
        with pytest.raises(W2SError, match="torch sees no CUDA GPU on this machine"):
            w2s.load("pyiqa:entropy", device="cuda")
    with pytest.raises(W2SError, match="not a device torch knows"):
        w2s.load("pyiqa:entropy", device="gpu0")


def test_import_w2s_stays_light():
    import subprocess
    import sys

    code = "import sys, w2s; assert 'torch' not in sys.modules; w2s.load; assert 'torch' in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
