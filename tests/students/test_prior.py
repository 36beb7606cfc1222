import json

import numpy as np
import pytest
import torch

from students.calibration import CalibrationHead
from students.prior import TeacherPrior
from students.student import Student
from w2s.core.errors import W2SError


def test_prior_is_the_weighted_mean_of_standardised_scores():
    prior = TeacherPrior.fit({"a": np.array([1.0, 3.0]), "b": np.array([10.0, 30.0, np.nan])[:2]},
                             {"a": 1.0, "b": 3.0})
    assert prior.mean == [2.0, 20.0] and prior.std == [1.0, 10.0]
    # item 1: z_a = (4 - 2)/1 = 2, z_b = (0 - 20)/10 = -2 -> (1*2 + 3*-2)/4 = -1
    # item 2: b abstains -> z_a alone = (0 - 2)/1 = -2; item 3: nobody scored it -> 0 (the pool's mean)
    out = prior.of_scores({"a": np.array([4.0, 0.0, np.nan]), "b": np.array([0.0, np.nan, np.nan])})
    np.testing.assert_allclose(out, [-1.0, -2.0, 0.0])


def test_constant_teacher_does_not_divide_by_zero():
    prior = TeacherPrior.fit({"a": np.array([5.0, 5.0])}, {"a": 1.0})
    assert prior.std == [1.0]
    np.testing.assert_allclose(prior.of_scores({"a": np.array([6.0])}), [1.0])


def test_student_with_a_prior_round_trips_and_adds_it(tmp_path, backbone):
    head = CalibrationHead(backbone.dim, hidden=0)
    head.set_normalization(torch.randn(20, backbone.dim))
    prior = TeacherPrior(["pyiqa:entropy"], [0.5], [7.0], [0.5], [{}])
    student = Student("efficientnet_lite0", head, backbone=backbone, prior=prior)
    student.save_pretrained(tmp_path / "s")
    saved = json.loads((tmp_path / "s" / "config.json").read_text())["prior"]
    assert saved == {"teachers": ["pyiqa:entropy"], "weights": [0.5], "mean": [7.0], "std": [0.5], "options": [{}]}
    loaded = Student.from_pretrained(tmp_path / "s")
    assert loaded.prior == prior

    from teachers import make_teacher
    from w2s.core.clip import Clip

    clip = Clip("x", torch.rand(2, 3, 64, 64), fps=4.0)
    with torch.no_grad():
        residual = float(head(backbone.embed(clip)[None].float())[0])
    entropy = make_teacher("pyiqa:entropy").score(clip)
    loaded.share_backbone(backbone)
    with pytest.raises(W2SError, match=r"w2s.load\(FOLDER\)"):  # the students package cannot build teachers
        loaded.score(clip)
    loaded.make_teacher = make_teacher
    assert loaded.score(clip) == pytest.approx(residual + (entropy - 7.0) / 0.5, abs=1e-4)
    features, base = loaded.embed(clip)
    assert base == pytest.approx((entropy - 7.0) / 0.5, abs=1e-5)
