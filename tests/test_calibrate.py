"""Few-shot calibration of a saved student on a share of a human-rated set (w2s.study.calibrate)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFilter
from scipy.special import ndtr

from students.calibration import CalibrationHead
from students.student import Student
from w2s.config import StudentConfig, TrainConfig
from w2s.core.errors import W2SError
from w2s.labelled.set import LabelledSet
from w2s.media.decode import read_clip
from w2s.media.sources import package_data_dir
from w2s.study import calibrate as C
from w2s.study import features as F
from w2s.testing.media import write_video

BLURS = [round(0.3 * k, 1) for k in range(12)]  # Gaussian blur radius per video
SAMPLER = {"name": "uniform", "num_frames": 2}
SIDE = 64
FRACTION, SPLITS = 0.5, 4  # 6 training and 6 test videos per split


def mos_of(radius: float) -> float:
    """The set's human score: falls with blur, nothing else (what calibration has to find)."""
    return 5.0 - 1.2 * radius




def blurred_videos(root, photo: str, blurs) -> list[str]:
    """Real 2-frame 64x64 videos of a photo panning, one per blur radius."""
    image = Image.open(package_data_dir("skimage") / photo).convert("RGB").resize((80, 80))
    paths = []
    for k, radius in enumerate(blurs):
        frames = []
        for t in range(2):  # a small pan, so the frames differ
            crop = image.crop((t * 6, t * 3, t * 6 + SIDE, t * 3 + SIDE))
            frames.append(np.asarray(crop.filter(ImageFilter.GaussianBlur(radius)) if radius else crop))
        path = root / f"{photo.split('.')[0]}_{k:02d}.mp4"
        write_video(path, frames)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this module: its heads are tiny, and on a shared 2-core machine a second
    thread mostly waits for the first (measured: the same test 2 s alone, 25 s beside another job)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shared_backbone(backbone):
    """Every Student.from_pretrained in this module gets the session's backbone instead of loading
    the weights again (seconds each): the student still loads through its own code."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("students.student.build_perception", lambda name, options=None, extras=None, device=None: backbone)
        yield backbone


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> LabelledSet:
    root = tmp_path_factory.mktemp("calibrate_videos")
    paths = blurred_videos(root, "astronaut.png", BLURS)
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    videos = pd.DataFrame({
        "id": [f"v{k:02d}" for k in range(len(BLURS))] + ["bad"],
        "path": paths + [str(corrupt)],
        "mos": [mos_of(r) for r in BLURS] + [3.0],
    })
    failures = pd.DataFrame({"id": ["gone"], "path": ["/nowhere/gone.mp4"], "reason": ["file not found"]})
    return LabelledSet(name="blurs", videos=videos, failures=failures, mos_range=(1, 5))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, shared_backbone):
    """A saved student that knows nothing of blur: a seeded random branch whose input standardisation
    comes from other content (coffee, noised), as a trained student's comes from its own pool."""
    backbone = shared_backbone
    root = tmp_path_factory.mktemp("student_pool")
    pool = blurred_videos(root, "coffee.png", [0.0, 1.0, 2.0, 3.0])
    features = torch.stack([backbone.embed(read_clip(p, SAMPLER, max_side=SIDE)) for p in pool])
    torch.manual_seed(0)
    head = CalibrationHead(backbone.dim, hidden=16, dropout=0.1)
    head.set_normalization(features)
    meta = {"sampler": SAMPLER, "max_side": SIDE, "round": 0, "run": "tiny",
            "train_score_quantiles": np.linspace(-2, 2, 101).tolist()}
    path = root / "student"
    Student("efficientnet_lite0", head, backbone=backbone, meta=meta).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, student_dir, labelled):
    out = tmp_path_factory.mktemp("calibrate") / "out"
    summary = C.calibrate(student_dir, labelled, out, fraction=FRACTION, splits=SPLITS, seed=0)
    return out, summary


def test_files_splits_and_failures(run, labelled):
    out, summary = run
    for name in ("features.safetensors", "failures.parquet", "splits.parquet", "scores.parquet", "summary.json",
                 "student/config.json", "student/model.safetensors"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))

    # the corrupt video is left out with its reason, beside the label file's own failure; the rest ran
    failures = pd.read_parquet(out / "failures.parquet")
    assert list(failures.columns) == ["id", "path", "reason"]
    assert failures.id.tolist() == ["gone", "bad"] and "corrupt.mp4" in failures.reason.iloc[1]
    assert (summary["n_videos"], summary["n_used"], summary["n_left_out"]) == (14, 12, 2)

    splits = pd.read_parquet(out / "splits.parquet")
    assert list(splits.columns) == ["split", "model", "srcc", "plcc", "n_train", "n_test"]
    assert len(splits) == SPLITS * 3
    assert sorted(splits.split.unique()) == list(range(SPLITS))
    assert (splits.groupby("split").model.apply(sorted) == [sorted(C.MODELS)] * SPLITS).all()
    assert (splits.n_train == 6).all() and (splits.n_test == 6).all()
    assert splits[["srcc", "plcc"]].notna().all().all()

    # each split's test videos are the 6 it did not train on, and the splits differ
    scores = pd.read_parquet(out / "scores.parquet")
    tests = [frozenset(scores[(scores.split == k) & (scores.model == "calibrated")].id) for k in range(SPLITS)]
    assert all(len(t) == 6 and "bad" not in t for t in tests) and len(set(tests)) == SPLITS
    meta = Student.from_pretrained(out / "student").meta
    assert not set(meta["train_ids"]) & tests[0] and len(meta["train_ids"]) == 6

    # the summary is the median and quartiles of the per-split numbers
    for model in C.MODELS:
        srcc = splits[splits.model == model].srcc
        got = summary["models"][model]
        assert got["srcc_median"] == pytest.approx(srcc.median())
        assert got["srcc_q25"] <= got["srcc_median"] <= got["srcc_q75"]
        assert [got["srcc_q25"], got["srcc_q75"]] == pytest.approx(np.percentile(srcc, [25, 75]).tolist())


def test_calibration_learns_the_blur_the_zero_shot_student_does_not_know(run):
    _, summary = run
    models = summary["models"]
    assert models["calibrated"]["srcc_median"] >= models["zero_shot"]["srcc_median"]
    # MOS follows blur exactly, and six videos teach it (measured: zero-shot -0.29, calibrated 0.83,
    # scratch 0.94: a branch that starts out ranking blur backwards is further from the answer)
    assert models["zero_shot"]["srcc_median"] < 0.3
    assert models["calibrated"]["srcc_median"] > 0.6
    assert models["scratch"]["srcc_median"] > 0.6


def test_saved_student_scores_as_recorded_and_loads_everywhere(run, student_dir, labelled, shared_backbone):
    from teachers.student_teacher import StudentTeacher
    from w2s.score import score_paths

    out, _ = run
    saved = Student.from_pretrained(out / "student")
    original = Student.from_pretrained(student_dir)
    assert (saved.backbone_name, saved.backbone_options, saved.extras, saved.prior) == (
        original.backbone_name, original.backbone_options, original.extras, original.prior)
    meta = saved.meta
    assert meta["calibrated_from"] == str(student_dir)
    assert (meta["fraction"], meta["split"], meta["n_train"]) == (FRACTION, 0, 6)
    assert (meta["sampler"], meta["max_side"], meta["run"]) == (SAMPLER, SIDE, "tiny")  # the original's kept
    # its 0-100 scale: refitted on the set's videos, 50 at their median (w2s.core.scale)
    assert meta["score_scale"]["of"] == f"the {len(BLURS)} videos of blurs" and "train_score_quantiles" not in meta
    # the branch changed; the standardisation it started from did not
    assert torch.equal(saved.head.feat_mean, original.head.feat_mean)
    assert not torch.equal(saved.head.net[0].weight, original.head.net[0].weight)

    scores = pd.read_parquet(out / "scores.parquet")
    row = scores[(scores.split == 0) & (scores.model == "calibrated")].iloc[0]
    path = labelled.videos.set_index("id").path[row.id]
    clip = read_clip(path, SAMPLER, max_side=SIDE)
    assert saved.score(clip) == pytest.approx(row.score, abs=1e-4)
    teacher = StudentTeacher(str(out / "student"))
    assert teacher.score(clip) == pytest.approx(row.score, abs=1e-4)
    # as `w2s score --model out/student` scores the file: frames read as the saved meta says
    table = score_paths(str(out / "student"), [path])
    assert table.status.tolist() == ["ok"] and table.score.iloc[0] == pytest.approx(row.score, abs=1e-4)
    # the zero-shot rows are the original student's own scores
    zero = scores[(scores.split == 0) & (scores.model == "zero_shot") & (scores.id == row.id)].score.iloc[0]
    assert original.score(clip) == pytest.approx(zero, abs=1e-4)


def test_rerun_reuses_the_features(run, student_dir, labelled, shared_backbone, tmp_path, monkeypatch):
    out, summary = run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    calls = []
    real = type(shared_backbone).embed_with_base
    monkeypatch.setattr(type(shared_backbone), "embed_with_base", lambda self, clip: calls.append(clip.id) or real(self, clip))
    # one split is enough to see the cache used (training is what a rerun still costs)
    rerun = C.calibrate(student_dir, labelled, again, fraction=FRACTION, splits=1, seed=0)
    assert calls == []  # the corrupt video is tried again, but fails in decoding, before the backbone
    assert rerun["n_used"] == summary["n_used"] and "corrupt.mp4" in pd.read_parquet(again / "failures.parquet").reason.iloc[-1]
    # the same split, the same training, the same numbers: a split does not depend on how many are asked for
    first = pd.read_parquet(out / "splits.parquet")
    assert pd.read_parquet(again / "splits.parquet").equals(first[first.split == 0].reset_index(drop=True))

    # a cache that other frame sampling wrote is refused, not silently mixed in
    settings = json.loads(json.dumps({"sampler": {"name": "uniform", "num_frames": 8}}))
    with pytest.raises(W2SError, match="other settings"):
        F._read_cache(again / F.FEATURES, settings)


def test_too_small_a_share_is_refused_before_any_work(labelled, tmp_path):
    with pytest.raises(W2SError, match=r"gives 1 training video\(s\): calibration needs at least 2"):
        C.calibrate(tmp_path / "no_student_needed", labelled, tmp_path / "out", fraction=0.1)
    with pytest.raises(W2SError, match="leaves 1 test video"):
        C.calibrate(tmp_path / "no_student_needed", labelled, tmp_path / "out", fraction=0.95)
    with pytest.raises(W2SError, match="between 0 and 1"):
        C.calibrate(tmp_path / "no_student_needed", labelled, tmp_path / "out", fraction=1.5)
    assert not (tmp_path / "out").exists()


def test_mos_pairs_are_thurstone_pairs_of_the_standardised_targets():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    target = np.array([1.0, 2.0, 4.0, 4.0])
    pairs = C.mos_pairs(ids, target, seed=0)
    assert len(pairs) == 6 and {frozenset(p) for p in zip(pairs.a, pairs.b)} == {
        frozenset(p) for p in [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]}
    z = dict(zip(ids, (target - target.mean()) / target.std()))
    for a, b, p in zip(pairs.a, pairs.b, pairs.p):
        assert p == pytest.approx(ndtr((z[a] - z[b]) / math.sqrt(2)))
    assert (pairs.source == "mos").all()
    # over the cap: a seeded sample of distinct pairs
    many = C.mos_pairs(np.array([f"v{i}" for i in range(40)], dtype=object), np.arange(40.0), seed=1, cap=100)
    assert len(many) == 100 and len({frozenset(p) for p in zip(many.a, many.b)}) == 100
    assert many.equals(C.mos_pairs(np.array([f"v{i}" for i in range(40)], dtype=object), np.arange(40.0), seed=1, cap=100))


def test_train_head_from_an_init_keeps_its_standardisation_and_leaves_it_untouched():
    from w2s.run.train import train_head

    torch.manual_seed(0)
    features = torch.randn(8, 5)
    init = CalibrationHead(5, hidden=4)
    init.set_normalization(torch.randn(30, 5) * 3 + 1)
    before = {k: v.clone() for k, v in init.state_dict().items()}
    pairs = pd.DataFrame({"a": ["0", "1", "2"], "b": ["3", "4", "5"], "p": [0.9, 0.8, 0.1], "source": "mos"})
    index = {str(i): i for i in range(8)}
    tuned, history = train_head(features, pairs, index, StudentConfig(hidden=4), TrainConfig(epochs=3), 0, init=init)
    assert len(history) == 3
    assert all(torch.equal(v, init.state_dict()[k]) for k, v in before.items())  # the caller's head untouched
    assert torch.equal(tuned.feat_mean, init.feat_mean) and torch.equal(tuned.feat_std, init.feat_std)
    assert not torch.equal(tuned.net[0].weight, init.net[0].weight)
    with pytest.raises(W2SError, match="takes 5 features"):
        train_head(torch.randn(8, 6), pairs, index, StudentConfig(), TrainConfig(epochs=1), 0, init=init)


def test_a_student_with_a_teacher_prior_keeps_it_in_the_base(run, student_dir, labelled, shared_backbone, tmp_path):
    # the base of each video is the backbone's score plus the prior, as Student.score adds them,
    # and the calibrated student is saved with the same prior
    from students.prior import TeacherPrior
    from teachers import make_teacher

    student = Student.from_pretrained(student_dir)
    student.prior = TeacherPrior(["classic:sharpness"], [1.0], [0.05], [0.02], [{}])
    with_prior = tmp_path / "with_prior"
    student.save_pretrained(with_prior)
    C.calibrate(with_prior, labelled, tmp_path / "out", fraction=FRACTION, splits=1, seed=0)
    saved = Student.from_pretrained(tmp_path / "out" / "student", make_teacher=make_teacher)
    assert saved.prior == student.prior
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet").set_index(["model", "id"])
    video = scores.loc["calibrated"].index[0]
    clip = read_clip(labelled.videos.set_index("id").path[video], SAMPLER, max_side=SIDE)
    assert saved.score(clip) == pytest.approx(scores.loc[("calibrated", video), "score"], abs=1e-4)
    assert Student.from_pretrained(with_prior, make_teacher=make_teacher).score(clip) == pytest.approx(scores.loc[("zero_shot", video), "score"], abs=1e-4)
    # the prior moved the zero-shot scores: without it they are those of the run without one
    plain = pd.read_parquet(run[0] / "scores.parquet").set_index(["split", "model", "id"]).score
    assert abs(plain[(0, "zero_shot", video)] - scores.loc[("zero_shot", video), "score"]) > 1e-3


def test_the_default_share_of_a_tiny_set_trains_on_a_single_pair(run, student_dir, labelled, shared_backbone, tmp_path):
    # 20 % of 12 videos: 2 training videos, one pair; the cache of the first run serves (same perception)
    out = tmp_path / "small"
    out.mkdir()
    shutil.copy(run[0] / F.FEATURES, out / F.FEATURES)
    summary = C.calibrate(student_dir, labelled, out, splits=2, seed=3)
    splits = pd.read_parquet(out / "splits.parquet")
    assert (splits.n_train == 2).all() and (splits.n_test == 10).all() and len(splits) == 6
    assert summary["calibrated"] == {"epochs": 20, "lr": C.LR, "batch_size": 1}  # enough steps for one-cycle


def test_recipe_gives_every_share_enough_steps():
    assert (C.recipe(1, 10, 3e-4).epochs, C.recipe(1, 10, 3e-4).batch_size) == (20, 1)
    assert (C.recipe(66, 10, 3e-4).epochs, C.recipe(66, 10, 3e-4).batch_size) == (10, 9)  # 12 videos: 8 steps an epoch
    big = C.recipe(28_680, 10, 3e-4)  # 20 % of KoNViD-1k: the training batch, 57 steps an epoch
    assert (big.epochs, big.batch_size, big.lr) == (10, 512, 3e-4)
