import numpy as np
import pandas as pd
import pytest
import torch

from students.calibration import CalibrationHead
from students.student import Student
from teachers import make_teacher
from w2s.cli import main
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.score import scale_100


@pytest.fixture(scope="module")
def saved_student(tmp_path_factory, backbone):
    # a seeded random linear head: what is scored does not matter here, only that the CLI
    # gives the student's own score and maps it through the stored quantiles
    torch.manual_seed(0)
    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    head.set_normalization(torch.randn(50, backbone.dim))
    path = tmp_path_factory.mktemp("student") / "student"
    meta = {"sampler": {"name": "uniform", "num_frames": 2}, "max_side": 96, "train_score_quantiles": np.linspace(-2, 2, 101).tolist()}
    student = Student("efficientnet_lite0", head, backbone=backbone, meta=meta)
    student.save_pretrained(path)
    return path, student


def test_score_csv_with_a_student_and_a_bad_file(saved_student, sample_pools, tmp_path):
    saved_student, student = saved_student
    clips = sorted(sample_pools["eval"].glob("*.mp4"))[:2]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(saved_student), *map(str, clips), str(bad), "--out", str(out)]) == 1  # a file failed
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns[:3]) == ["path", "score", "score_100"]
    assert len(df) == 3
    ok = df[df.status == "ok"]
    assert ok.path.tolist() == list(map(str, clips))  # input order kept
    # each score is the saved student's own (scored in memory), on the clip read the way its
    # meta says (2 uniform frames, max side 96)
    want = [student.score(read_clip(c, UniformSampler(2), max_side=96)) for c in clips]
    assert ok.score.astype(float).tolist() == pytest.approx(want, rel=1e-5)
    # score_100 by hand: quantiles -2..2 in 101 steps -> 25 * (score + 2), clipped to [0, 100]
    assert ok.score_100.astype(float).tolist() == pytest.approx(np.clip(25 * (np.array(want) + 2), 0, 100).tolist(), rel=1e-5)
    failed = df[df.status == "failed"].iloc[0]
    assert failed.path.endswith("broken.mp4") and "broken.mp4" in failed.error


def test_score_with_a_teacher_name_and_a_folder(sample_pools, tmp_path):
    out = tmp_path / "piqe.csv"
    assert main(["score", "--model", "pyiqa:piqe", str(sample_pools["eval"]), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == len(list(sample_pools["eval"].glob("*.mp4"))) and (df.status == "ok").all()
    assert df.score_100.isna().all()  # no 0-100 scale for a teacher
    # the score is the teacher's, oriented higher-is-better (PIQE is lower-is-better: negated),
    # on the default 8 uniform frames at full size
    first = df.iloc[0]
    clip = read_clip(first.path, UniformSampler(8))
    assert first.score == pytest.approx(make_teacher("pyiqa:piqe").score(clip), rel=1e-6)
    assert first.score < 0


def test_scale_100_is_monotone_percentile():
    q = np.linspace(0, 10, 101)
    assert np.allclose(scale_100(np.array([-1.0, 0.0, 5.0, 10.0, 11.0]), q.tolist()), [0, 0, 50, 100, 100])
