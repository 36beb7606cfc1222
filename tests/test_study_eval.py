"""Measuring a model against human scores: bootstrap intervals, the scoring run and its resume, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter
from scipy import stats

from w2s.core.errors import W2SError
from w2s.eval import metrics as M
from w2s.eval.metrics import fit_logistic4_params
from w2s.labelled.set import LabelledSet
from w2s.media.sources import package_data_dir
from w2s.study import model_eval as E
from w2s.study.bootstrap import metrics_with_ci, paired_gain_ci
from w2s.study.plots import plot_scatter, plot_srcc_per_round
from w2s.testing.media import write_video

KEYS = ["srcc", "krcc", "plcc", "rmse"]


# --- bootstrap ---------------------------------------------------------------------------


def noisy(n: int = 200, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 5, n)
    return np.tanh(target - 3) + noise * rng.normal(size=n), target


def test_point_estimates_are_w2s_metrics_and_inside_their_interval():
    pred, target = noisy()
    out = metrics_with_ci(pred, target, n_boot=300)
    assert out["n"] == 200
    for key, value in M.all_metrics(pred, target).items():
        assert out[key] == value
        assert out[f"{key}_lo"] < value < out[f"{key}_hi"]
    assert 0 < out["srcc_lo"] and out["srcc_hi"] < 1


def test_intervals_are_the_percentiles_of_the_per_resample_metrics():
    # the vectorised ranking must give exactly what scipy gives resample by resample
    pred, target = noisy(n=40)
    n_boot = 200
    idx = np.random.default_rng(3).integers(0, 40, size=(n_boot, 40))  # the draws metrics_with_ci makes for seed 3
    mapped = M.fit_logistic4(pred, target)  # fitted once on the full set, reused per resample
    per = {
        "srcc": [stats.spearmanr(pred[i], target[i]).statistic for i in idx],
        "krcc": [stats.kendalltau(pred[i], target[i]).statistic for i in idx],
        "plcc": [stats.pearsonr(mapped[i], target[i]).statistic for i in idx],
        "rmse": [np.sqrt(np.mean((mapped[i] - target[i]) ** 2)) for i in idx],
    }
    out = metrics_with_ci(pred, target, n_boot=n_boot, seed=3, level=0.9)
    for key, values in per.items():
        assert [out[f"{key}_lo"], out[f"{key}_hi"]] == pytest.approx(np.percentile(values, [5, 95]), abs=1e-12)


def test_refitting_the_logistic_per_resample_changes_little():
    pred, target = noisy()
    once = metrics_with_ci(pred, target, n_boot=100)
    refit = metrics_with_ci(pred, target, n_boot=100, refit_logistic=True)
    for key in KEYS:
        assert refit[key] == once[key]
        assert refit[f"{key}_lo"] == pytest.approx(once[f"{key}_lo"], abs=0.02)
    assert refit["srcc_lo"] == once["srcc_lo"]  # rank metrics do not depend on the fit


def test_a_perfect_predictor_has_srcc_one_with_no_spread():
    target = np.linspace(1, 5, 30)
    out = metrics_with_ci(np.exp(target), target, n_boot=200)  # any increasing map ranks perfectly
    assert (out["srcc"], out["srcc_lo"], out["srcc_hi"]) == (1.0, 1.0, 1.0)
    # scipy's Kendall tau-b with the ties of a resample lands within rounding of 1
    assert [out["krcc"], out["krcc_lo"], out["krcc_hi"]] == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)


def test_one_seed_gives_one_answer():
    pred, target = noisy()
    assert metrics_with_ci(pred, target, n_boot=100, seed=7) == metrics_with_ci(pred, target, n_boot=100, seed=7)
    assert metrics_with_ci(pred, target, n_boot=100, seed=7) != metrics_with_ci(pred, target, n_boot=100, seed=8)
    assert paired_gain_ci(pred, target, target, seed=1, n_boot=100) == paired_gain_ci(pred, target, target, seed=1, n_boot=100)


def test_nan_pairs_are_dropped_and_counted():
    pred, target = noisy(n=50)
    pred[[3, 10, 20]] = np.nan
    target[40] = np.nan
    target[3] = np.inf  # same video as a NaN prediction: still one video
    keep = np.isfinite(pred) & np.isfinite(target)
    out = metrics_with_ci(pred, target, n_boot=100)
    assert out["n"] == 46
    assert out == {**metrics_with_ci(pred[keep], target[keep], n_boot=100), "n": 46}
    other = noisy(n=50, seed=1)[0]
    assert paired_gain_ci(pred, other, target, n_boot=100) == paired_gain_ci(pred[keep], other[keep], target[keep], n_boot=100)


def test_too_few_videos_give_nan_not_an_error():
    out = metrics_with_ci([np.nan, 1.0], [1.0, np.nan], n_boot=10)
    assert out["n"] == 0 and all(np.isnan(out[k]) for k in out if k != "n")
    out = metrics_with_ci([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], n_boot=10)  # constant predictions rank nothing
    assert np.isnan(out["srcc"]) and np.isnan(out["srcc_lo"])


def test_a_model_against_itself_gains_exactly_nothing():
    pred, target = noisy()
    for metric in KEYS:
        assert paired_gain_ci(pred, pred.copy(), target, metric=metric, n_boot=200) == (0.0, 0.0, 0.0)


def test_a_clearly_better_model_has_a_positive_lower_bound():
    # a ranks the 60 videos perfectly (SRCC 1 on every resample); b is unrelated noise, so the
    # gain is 1 - SRCC(b) on the full set and at least 1 - max SRCC(b) on any resample
    target = np.arange(60, dtype=float)
    a = target * 2 + 1
    b = np.random.default_rng(0).normal(size=60)
    gain, lo, hi = paired_gain_ci(a, b, target, n_boot=500)
    assert gain == pytest.approx(1 - stats.spearmanr(b, target).statistic)
    assert 0.5 < lo < gain < hi < 1.5
    # RMSE: lower is better, so the better model's gain is negative
    gain, lo, hi = paired_gain_ci(a, b, target, metric="rmse", n_boot=200)
    assert gain < 0 and hi < 0
    with pytest.raises(ValueError, match="unknown metric"):
        paired_gain_ci(a, b, target, metric="mae")


# --- scoring a labelled set --------------------------------------------------------------

BLURS = [0.0, 0.6, 1.2, 2.0, 3.0]  # Gaussian blur radius per video: sharpness falls with it
MOS = [4.6, 4.1, 3.0, 3.3, 1.5]  # known scores, one pair out of the blur order (SRCC 0.9)
SAMPLER = {"name": "uniform", "num_frames": 4}




@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Five real 4-frame 48x48 videos of a photo panning, blurred more and more; and a corrupt file."""
    root = tmp_path_factory.mktemp("study_videos")
    photo = Image.open(package_data_dir("skimage") / "astronaut.png").convert("RGB").resize((64, 64))
    paths = []
    for k, radius in enumerate(BLURS):
        frames = []
        for t in range(4):  # a small pan, so the frames differ
            crop = photo.crop((t * 4, t * 2, t * 4 + 48, t * 2 + 48))
            frames.append(np.asarray(crop.filter(ImageFilter.GaussianBlur(radius)) if radius else crop))
        path = root / f"v{k}.mp4"
        write_video(path, frames)
        paths.append(str(path))
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return paths, str(corrupt)


@pytest.fixture
def labelled(clips) -> LabelledSet:
    paths, corrupt = clips
    videos = pd.DataFrame({"id": [f"v{k}" for k in range(5)] + ["bad"], "path": paths + [corrupt], "mos": MOS + [3.0]})
    failures = pd.DataFrame({"id": ["gone"], "path": ["/nowhere/gone.mp4"], "reason": ["file not found"]})
    return LabelledSet(name="tiny", videos=videos, failures=failures, mos_range=(1, 5))


class CountingScorer:
    """Wraps a real scorer: counts calls, and can stop the run like a kill after some videos."""

    def __init__(self, inner, kill_after: int | None = None):
        self.inner, self.kill_after, self.calls = inner, kill_after, 0

    def score(self, clip) -> float:
        if self.kill_after is not None and self.calls >= self.kill_after:
            raise KeyboardInterrupt  # not an Exception: escapes the per-video handler, as a kill would
        self.calls += 1
        return self.inner.score(clip)


@pytest.fixture
def counting(monkeypatch):
    """install(kill_after) makes evaluate_model's scorer a CountingScorer; returns a dict that gets it."""
    real = E.load

    def install(kill_after: int | None = None) -> dict:
        made = {}

        def load(model, **options):
            scorer = real(model, **options)
            made["scorer"] = scorer.model = CountingScorer(scorer.model, kill_after)
            return scorer

        monkeypatch.setattr(E, "load", load)
        return made

    return install


def test_scores_metrics_and_failures_of_a_labelled_set(labelled, tmp_path):
    from teachers import make_teacher
    from w2s.media.decode import read_clip

    out = tmp_path / "eval"
    result = E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=200)
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["id", "path", "mos", "target", "score", "status", "error"]
    assert scores.id.tolist() == ["v0", "v1", "v2", "v3", "v4", "bad"]
    ok = scores[scores.status == "ok"]
    assert len(ok) == 5 and (ok.error == "").all()
    # the teacher's own score of each clip, read as `w2s score` reads it
    teacher = make_teacher("classic:sharpness")
    assert ok.score.tolist() == pytest.approx([teacher.score(read_clip(p, SAMPLER)) for p in ok.path], rel=1e-6)
    assert np.all(np.diff(ok.score) < 0)  # more blur, less sharpness
    bad = scores[scores.id == "bad"].iloc[0]
    assert bad.status == "failed" and np.isnan(bad.score) and "corrupt.mp4" in bad.error

    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    # by hand on the written scores: the blur order against MOS with one swapped pair
    assert saved["srcc"] == pytest.approx(M.srcc(ok.score, ok.target)) == pytest.approx(0.9)
    for key in KEYS:
        assert saved[key] == pytest.approx(M.all_metrics(ok.score, ok.target)[key])
    assert saved == {**saved, **metrics_with_ci(ok.score, ok.target, n_boot=200)}
    assert (saved["n"], saved["n_videos"], saved["n_scored"], saved["n_left_out"]) == (5, 7, 5, 2)
    assert (saved["model"], saved["dataset"]) == ("classic:sharpness", "tiny")

    failures = pd.read_parquet(out / "failures.parquet")
    assert list(failures.columns) == ["id", "path", "reason"]
    assert failures.id.tolist() == ["gone", "bad"]
    assert failures.reason.iloc[0] == "file not found" and "corrupt.mp4" in failures.reason.iloc[1]


def test_score_table_opens_with_datasets(labelled, tmp_path):
    import datasets

    out = tmp_path / "eval"
    E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=20)
    ds = datasets.load_dataset("parquet", data_files=str(out / "scores.parquet"), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 6 and ds.column_names == ["id", "path", "mos", "target", "score", "status", "error"]
    assert ds[0]["id"] == "v0" and ds[5]["status"] == "failed"


def test_dmos_is_negated_into_the_target(labelled, tmp_path):
    labelled.videos["mos"] = 100 - 20 * labelled.videos["mos"]
    labelled.lower_better = True
    result = E.evaluate_model("classic:sharpness", labelled, tmp_path / "dmos", sampler_spec=SAMPLER, n_boot=20)
    scores = pd.read_parquet(tmp_path / "dmos" / "scores.parquet")
    assert scores.target.tolist() == pytest.approx((-scores.mos).tolist())
    assert result["srcc"] == pytest.approx(0.9)  # the same ranking as the MOS version


def test_a_killed_run_resumes_where_it_stopped(labelled, tmp_path, counting):
    # reference: one uninterrupted run
    made = counting()
    E.evaluate_model("classic:sharpness", labelled, tmp_path / "whole", sampler_spec=SAMPLER, n_boot=50)
    assert made["scorer"].calls == 5  # the corrupt file fails in decoding, before the scorer

    out = tmp_path / "killed"
    made = counting(kill_after=2)
    with pytest.raises(KeyboardInterrupt):
        E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=50)
    assert len((out / E.CACHE).read_text().splitlines()) == 2
    assert not (out / "scores.parquet").exists()

    made = counting()
    E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=50)
    assert made["scorer"].calls == 3  # only the videos the kill left
    for name in ("scores.parquet", "failures.parquet", "metrics.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name

    # a line lost from the cache, and one cut short by a kill mid-write: those two are scored again
    lines = (out / E.CACHE).read_text().splitlines()
    (out / E.CACHE).write_text("\n".join(lines[:2] + lines[3:4]) + "\n" + lines[4][:15])
    made = counting()
    E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=50)
    assert made["scorer"].calls == 2
    assert (out / "scores.parquet").read_bytes() == (tmp_path / "whole" / "scores.parquet").read_bytes()

    made = counting()  # nothing left to score
    E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=50)
    assert made["scorer"].calls == 0


def test_a_cache_from_other_settings_is_refused(labelled, tmp_path):
    out = tmp_path / "eval"
    E.evaluate_model("classic:sharpness", labelled, out, sampler_spec=SAMPLER, n_boot=10)
    with pytest.raises(W2SError, match="other settings"):
        E.evaluate_model("classic:sharpness", labelled, out, sampler_spec={"name": "uniform", "num_frames": 2}, n_boot=10)


def test_a_scorer_error_fails_only_its_video(labelled, tmp_path, monkeypatch):
    real = E.load

    class Picky:
        def __init__(self, inner):
            self.inner = inner

        def score(self, clip):
            if clip.id == "v2":
                raise RuntimeError("out of memory")
            return self.inner.score(clip) if clip.id != "v3" else float("nan")

    def load(model, **options):
        scorer = real(model, **options)
        scorer.model = Picky(scorer.model)
        return scorer

    monkeypatch.setattr(E, "load", load)
    result = E.evaluate_model("classic:sharpness", labelled, tmp_path / "eval", sampler_spec=SAMPLER, n_boot=10)
    scores = pd.read_parquet(tmp_path / "eval" / "scores.parquet").set_index("id")
    assert scores.loc["v2", "error"] == "out of memory" and scores.loc["v3", "status"] == "failed"
    assert "non-finite" in scores.loc["v3", "error"]
    assert (result["n_scored"], result["n_left_out"], result["n"]) == (3, 4, 3)


# --- plots -------------------------------------------------------------------------------


def test_fitted_params_are_the_mapping_of_fit_logistic4():
    pred, target = noisy()
    params = fit_logistic4_params(pred, target)
    assert M.logistic4(pred, *params) == pytest.approx(M.fit_logistic4(pred, target))
    fit_logistic4_params(np.ones(5), np.arange(5.0))  # a degenerate set must not raise


def test_plots_are_written_as_pngs_and_leave_no_figure_open(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.DataFrame({"dataset": ["A"] * 3 + ["B"] * 3, "round": [0, 1, 2] * 2, "srcc": [0.5, 0.6, 0.65, 0.4, 0.45, 0.5]})
    refs = pd.DataFrame({"dataset": ["A", "B"], "model": ["pyiqa:piqe", "pyiqa:piqe"], "srcc": [0.45, 0.3]})
    with_ci = table.assign(srcc_lo=table.srcc - 0.05, srcc_hi=table.srcc + 0.05)
    pred, target = noisy()
    before = plt.get_fignums()
    written = [
        plot_srcc_per_round(table, tmp_path / "rounds.png"),
        plot_srcc_per_round(with_ci, tmp_path / "rounds_ci.png", refs=refs),
        plot_scatter(pred, target, tmp_path / "scatter.png", "model on set", mos_range=(1, 5)),
        plot_scatter(pred, 6 - target, tmp_path / "sub" / "dmos.png", "dmos", lower_better=True, mos_label="DMOS"),
        plot_scatter([1.0, 2.0, np.nan], [1.0, 3.0, 2.0], tmp_path / "few.png", "too few to fit"),
    ]
    assert plt.get_fignums() == before == []
    for path in written:
        assert path.stat().st_size > 1000
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (800, 450)
