"""report.md without a held-out set, and the model card's facts: what the student saw, where it is
weak and what its 0-100 scale means, checked against the run's own files."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from w2s.cli import main
from w2s.core.io import read_tensors
from w2s.core.scale import apply_scale
from w2s.eval.lofo import summarize_lofo
from w2s.eval.tables import cell


@pytest.fixture(scope="module")
def run(tmp_path_factory, sample_pools):
    """A 2-round run without a held-out set, leave-one-family-out of round 0, over 4 clips and a broken file."""
    from tests.conftest import TINY_CONFIG

    root = tmp_path_factory.mktemp("report")
    pool = root / "pool"
    pool.mkdir()
    for clip in sorted(sample_pools["train"].glob("*.mp4"))[:4]:
        shutil.copy(clip, pool / clip.name)
    (pool / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    cfg = root / "noeval.yaml"
    cfg.write_text(TINY_CONFIG.format(name="noeval", out=root / "runs", train=sample_pools["train"],
                                      eval=sample_pools["eval"]))
    assert main(["run", str(cfg), "--set", f"pool.source={pool}", "--set", "pool.limit=5", "--set", "eval.source=none",
                 "--set", "eval.lofo=first"]) == 1  # a file failed; the run went on
    return root / "runs" / "noeval", pool


def section(text: str, title: str) -> str:
    """The Markdown section that starts with ``## title`` (up to the next ``## ``)."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_a_run_without_a_held_out_set_writes_its_report(run):
    folder, pool = run
    report = (folder / "report.md").read_text()
    items = pd.read_parquet(folder / "label" / "items.parquet")
    # the pool: 4 clean clips (the broken file is not one), each with 3 families x 2 levels
    assert f"4 clean clip(s) from `{pool}` (`pool.source`; 5 file(s) scanned)" in report
    assert f"{len(items)} items in all, in 3 families" in report and len(items) == 28
    assert "| blur | sigma: 1.0, 3.0 | 8 | distortion pairs and teachers |" in section(report, "Training pool")
    failures = section(report, "Failures")
    assert "1 file(s) could not be used" in failures and str(pool / "broken.mp4") in failures
    # teachers of the last round with their reliability, as teachers.json has them
    info = json.loads((folder / "round_01" / "teachers.json").read_text())
    teachers = section(report, "Teachers of round 1")
    for column, within in info["reliability"].items():
        across, weight = info["reliability_across"][column], info["weights"][column]
        assert f"| {column.removeprefix('score:')} | {cell(within)} | {cell(across)} | {cell(weight)} |" in teachers
    assert "| student r0 |" in teachers
    pairs = pd.read_parquet(folder / "round_01" / "pairs.parquet")
    assert f"| teacher | {(pairs.source == 'teacher').sum()} |" in section(report, "Pairs of round 1")
    # training: per round its pairs, epochs, first and last epoch's loss, as train_log.json has them
    training = section(report, "Training\n")
    for k in (0, 1):
        log = json.loads((folder / f"round_{k:02d}" / "train_log.json").read_text())
        n = len(pd.read_parquet(folder / f"round_{k:02d}" / "pairs.parquet"))
        losses = log["epoch_loss"]
        assert f"| {k} | {n} | {len(losses)} | {losses[0]:.3f} | {losses[-1]:.3f} | 1 |" in training
    assert "None: this run has no held-out set (`eval.source: none`)" in section(report, "Held-out content")
    assert "## Leave-one-family-out (training pool)" in report


def test_the_model_card_says_what_the_student_saw_and_where_it_is_weak(run):
    folder, pool = run
    lofo = summarize_lofo(pd.read_parquet(folder / "lofo.parquet")).set_index("model").loc["student r0"]
    for k in (0, 1):
        card = (folder / f"round_{k:02d}" / "student" / "README.md").read_text()
        saw = section(card, "What it saw")
        assert f"4 clean clip(s) from `{pool}` (`pool.source`) and their distorted variants, 28 items in all" in saw
        for row in ("| blur | sigma: 1.0, 3.0 | 8 |", "| darken | multiplier: 0.6, 0.3 | 8 |", "| noise | sigma: 0.02, 0.08 | 8 |"):
            assert row in saw
        assert "`pyiqa:piqe`, `pyiqa:entropy`" in section(card, "What it learned from")
        weak = section(card, "Where it is weak")
        assert "`contrast` (not measured), `h265` (not measured)" in weak  # the config's eval.ood, no held-out set
        assert "not measured (the run had no held-out set: `eval.source: none`)" in weak
    weak0 = section((folder / "round_00" / "student" / "README.md").read_text(), "Where it is weak")
    assert (f"mean {lofo.mean_srcc:.3f} over {lofo.families} families; weakest `{lofo.worst_family}` "
            f"({lofo.worst_srcc:.3f}); {lofo.backwards} ranked backwards") in weak0
    weak1 = section((folder / "round_01" / "student" / "README.md").read_text(), "Where it is weak")
    assert "Leave-one-family-out (`eval.lofo: first`) measured student r0, not this round" in weak1


def test_a_run_student_saves_the_clean_clip_scale(run):
    """The saved scale is the student's own: 50 at the median of its scores of the pool's clean clips."""
    import w2s
    from students.student import Student

    folder, _ = run
    items = pd.read_parquet(folder / "label" / "items.parquet")
    features = read_tensors(folder / "label" / "features.safetensors")["features"]
    student = Student.from_pretrained(folder / "round_01" / "student")
    raw = student.score_features(features).numpy().astype(np.float64)
    clean = (items.family == "").to_numpy()
    scale = student.meta["score_scale"]
    assert scale["center"] == pytest.approx(np.median(raw[clean]), abs=1e-5)
    assert scale["clean_quartiles"] == pytest.approx(np.quantile(raw[clean], [0.25, 0.75]), abs=1e-5)
    assert scale["of"] == f"the 4 clean clips of the training pool ({folder.parent.parent / 'pool'})"
    assert "train_score_quantiles" not in student.meta
    on_100 = apply_scale(raw, scale)
    assert 0 < on_100.min() and on_100.max() < 100
    below = (raw[~clean] < scale["center"]).mean()
    assert scale["distorted_below_50"] == pytest.approx(below) and (on_100[~clean] < 50).mean() == pytest.approx(below)
    assert w2s.load(folder / "round_01" / "student", device="cpu").quantiles == scale
    card = (folder / "round_01" / "student" / "README.md").read_text()
    assert f"- 50: raw score {scale['center']:.4g}, the median of {scale['of']}" in card
    assert f"- {below:.0%} of the pool's distorted variants score below 50" in card


def test_the_card_names_the_ood_families_srcc_when_a_held_out_set_measured_them(tiny_config, tmp_path):
    from w2s.config import load_config
    from w2s.eval.model_card import weak_lines
    from w2s.run.facts import weak_spots

    config = load_config(tiny_config("measured"), [])
    metrics = {"student r1": {"per_family": {"blur": 0.9, "darken": 0.7, "noise": float("nan"),
                                             "contrast": 0.41, "h265": -0.2}}}
    lines = "\n".join(weak_lines(weak_spots(config, 1, metrics, tmp_path / "no_lofo.parquet")))
    assert "content: `contrast` (SRCC 0.410), `h265` (SRCC -0.200)" in lines
    assert "Weakest family on held-out content: `h265` (SRCC -0.200, never in training)" in lines
    assert "Leave-one-family-out: not run (`eval.lofo: none`)" in lines
