import numpy as np
import pandas as pd
import pytest
import torch

from students.calibration import CalibrationHead
from students.student import Student
from w2s.cli import main
from w2s.score import scale_100


@pytest.fixture(scope="module")
def saved_student(tmp_path_factory, backbone):
    # a head that prefers sharp frames: weight on the std-over-space features
    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    torch.manual_seed(0)
    head.set_normalization(torch.randn(50, backbone.dim))
    path = tmp_path_factory.mktemp("student") / "student"
    meta = {"sampler": {"name": "uniform", "num_frames": 2}, "max_side": 96, "train_score_quantiles": np.linspace(-2, 2, 101).tolist()}
    Student("efficientnet_lite0", head, meta=meta).save_pretrained(path)
    return path


def test_score_csv_with_a_student_and_a_bad_file(saved_student, sample_pools, tmp_path):
    clips = sorted(sample_pools["eval"].glob("*.mp4"))[:2]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(saved_student), *map(str, clips), str(bad), "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns[:3]) == ["path", "score", "score_100"]
    assert len(df) == 3
    ok = df[df.status == "ok"]
    assert len(ok) == 2 and ok.score.astype(float).notna().all()
    assert ((ok.score_100.astype(float) >= 0) & (ok.score_100.astype(float) <= 100)).all()
    failed = df[df.status == "failed"].iloc[0]
    assert failed.path.endswith("broken.mp4") and "broken.mp4" in failed.error


def test_score_with_a_teacher_name_and_a_folder(sample_pools, tmp_path):
    out = tmp_path / "piqe.csv"
    assert main(["score", "--model", "pyiqa:piqe", str(sample_pools["eval"]), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == len(list(sample_pools["eval"].glob("*.mp4"))) and (df.status == "ok").all()
    assert df.score_100.isna().all()  # no 0-100 scale for a teacher


def test_scale_100_is_monotone_percentile():
    q = np.linspace(0, 10, 101)
    assert np.allclose(scale_100(np.array([-1.0, 0.0, 5.0, 10.0, 11.0]), q.tolist()), [0, 0, 50, 100, 100])
