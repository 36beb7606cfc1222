"""`w2s evaluate`, `w2s study` and `w2s calibrate` through the real entry point, on a real tiny run."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from w2s.cli import main


@pytest.fixture
def tiny_run(tiny_config, tmp_path):
    """A finished 2-round run with a teacher prior, whose held-out set has H.265 variants scored by VMAF."""
    assert main(["run", str(tiny_config("study")), "--set", "student.prior=teachers"]) == 0
    return tmp_path / "runs" / "study"


def test_study_on_the_vmaf_proxy_reproduces_the_runs_own_evaluation(tiny_run, tmp_path, capsys):
    # a human-style set next to the proxy: the eval clips with made-up MOS, one missing video, one empty MOS
    manifest = pd.read_parquet(tiny_run / "evalset_manifest.parquet")
    rows = [{"file": p, "score": 10.0 * (i + 1)} for i, p in enumerate(manifest.path)]
    rows += [{"file": str(tmp_path / "gone.mp4"), "score": 3.0}, {"file": manifest.path.iloc[0] + "x", "score": ""}]
    pd.DataFrame(rows).to_csv(tmp_path / "mine.csv", index=False)

    assert main(["study", str(tiny_run), "--vmaf-proxy", "--bootstrap", "50",
                 "--dataset", f"mine={tmp_path / 'mine.csv'}:{tmp_path}",
                 "--option", "mine.path_column=file", "--option", "mine.mos_column=score"]) == 0
    study = tiny_run / "study"
    summary = pd.read_parquet(study / "summary.parquet")
    models = ["pyiqa:piqe", "pyiqa:entropy", "ensemble", "student r0", "student r1"]
    assert list(summary[summary.dataset == "vmaf-proxy"].model) == models

    # the proxy videos are the run's own H.265 variants, written losslessly: a student reading the
    # files scores them exactly as the run's evaluation scored them from its cache, and the score
    # is their VMAF
    proxy = pd.read_parquet(study / "vmaf-proxy" / "scores.parquet")
    evaluated = pd.read_parquet(tiny_run / "round_01" / "eval" / "scores.parquet")
    evaluated = evaluated[evaluated.vmaf.notna()].reset_index(drop=True)
    assert len(proxy) == len(evaluated) == 4
    np.testing.assert_allclose(proxy.mos, evaluated.vmaf, atol=1e-5)
    np.testing.assert_allclose(proxy["student r1"], evaluated["model:student r1"], atol=1e-4)
    np.testing.assert_allclose(proxy["pyiqa:piqe"], evaluated["model:pyiqa:piqe"], rtol=1e-5)
    row = summary[(summary.dataset == "vmaf-proxy") & (summary.model == "student r1")].iloc[0]
    assert row.srcc == pytest.approx(stats.spearmanr(proxy["student r1"], proxy.mos).statistic)

    mine = summary[summary.dataset == "mine"]
    assert set(mine.n) == {2} and set(mine.left_out) == {2}  # two clips scored, two label rows reported
    report = (study / "report.md").read_text()
    assert "not human opinion scores" in report and "Weak-to-strong gain" in report and "Mean over sets" in report
    assert "2 label rows left out" in report
    for png in ("srcc_per_round.png", "scatter_vmaf-proxy.png", "scatter_mine.png"):
        assert (study / png).stat().st_size > 10_000
    gains = pd.read_parquet(study / "gains.parquet")
    assert set(gains.role) == {"best teacher", "ensemble"} and (gains.lo <= gains.gain).all()

    # a rerun scores nothing again: every model's cache is complete
    before = {p: p.stat().st_mtime_ns for p in study.rglob("scores.partial.jsonl")}
    assert main(["study", str(tiny_run), "--vmaf-proxy", "--bootstrap", "50"]) == 0
    assert {p: p.stat().st_mtime_ns for p in study.rglob("scores.partial.jsonl")} == before


def test_evaluate_and_calibrate_commands(tiny_run, tmp_path, capsys, monkeypatch):
    from students.perception import Perception

    calls = []
    embed = Perception.embed_with_base
    monkeypatch.setattr(Perception, "embed_with_base", lambda self, clip: calls.append(clip.id) or embed(self, clip))
    assert main(["study", str(tiny_run), "--vmaf-proxy", "--bootstrap", "20"]) == 0
    assert len(calls) == 4  # 4 proxy videos embedded once, though two rounds' students score them
    monkeypatch.undo()
    proxy = tiny_run / "study" / "vmaf_proxy_videos"
    student = tiny_run / "round_01" / "student"
    assert main(["evaluate", "--model", str(student), "--dataset", str(proxy / "labels.txt"), "--root", str(proxy),
                 "--out", str(tmp_path / "ev"), "--bootstrap", "20"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n_scored"] == 4 and metrics["n_left_out"] == 0
    assert "SRCC" in capsys.readouterr().out

    assert main(["calibrate", str(student), "--dataset", str(proxy / "labels.txt"), "--root", str(proxy),
                 "--out", str(tmp_path / "cal"), "--fraction", "0.5", "--splits", "2"]) == 0
    splits = pd.read_parquet(tmp_path / "cal" / "splits.parquet")
    assert sorted(set(splits.model)) == ["calibrated", "scratch", "zero_shot"] and set(splits.n_train) == {2}
    # the calibrated student keeps the run's prior and scores like any saved student
    saved = json.loads((tmp_path / "cal" / "student" / "config.json").read_text())
    assert saved["prior"]["teachers"] == ["pyiqa:piqe", "pyiqa:entropy"]
    assert main(["score", "--model", str(tmp_path / "cal" / "student"), str(proxy / "videos"),
                 "--out", str(tmp_path / "s.csv")]) == 0
    assert pd.read_csv(tmp_path / "s.csv").status.eq("ok").sum() == 4


@pytest.mark.parametrize("args, message", [
    (["study", "RUN", "--dataset", "konvid"], "expected NAME=SPEC:ROOT"),
    (["study", "RUN"], "name at least one --dataset"),
    (["evaluate", "--model", "pyiqa:piqe", "--dataset", "konvid1k", "--root", "/nonexistent/x", "--out", "o"],
     "video folder not found: /nonexistent/x"),
    (["evaluate", "--model", "pyiqa:piqe", "--dataset", "konvidd", "--root", ".", "--out", "o"], "konvid1k"),
])
def test_study_errors_are_one_line(args, message, tmp_path, capsys):
    args = [a.replace("RUN", str(tmp_path)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_list_datasets_names_every_preset(capsys):
    from w2s.labelled.presets import PRESETS

    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert len(PRESETS) == 13 and all(p.name in out for p in PRESETS)
