from pathlib import Path

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


# --- a non-finite score is a failure, everywhere (w2s.core.finite) ------------------------------


@pytest.fixture
def images(tmp_path):
    """Five small PNGs, v0..v4, ever more blurred (so sharpness falls along them)."""
    from PIL import Image, ImageFilter

    noise = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    paths = []
    for k, radius in enumerate([0.0, 0.6, 1.2, 2.0, 3.0]):
        path = tmp_path / f"v{k}.png"
        Image.fromarray(noise).filter(ImageFilter.GaussianBlur(radius)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def double_family(monkeypatch):
    """``double:STEM`` as a teacher name: NaN for the file named STEM (w2s.testing.doubles.NaNTeacher)."""
    from teachers import TEACHER_FAMILIES

    monkeypatch.setitem(TEACHER_FAMILIES._table, "double", "w2s.testing.doubles:NaNTeacher")


def test_a_nan_score_fails_its_file_in_w2s_score(images, double_family, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["score", "--model", "double:v2", *map(str, images[:3]), "--out", str(out)]) == 1
    df = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert df.status.tolist() == ["ok", "ok", "failed"]
    assert df.loc[str(images[2]), "score"] == "" and "non-finite score (nan)" in df.loc[str(images[2]), "error"]
    shown = capsys.readouterr().out
    assert "1 file(s) could not be used" in shown and "non-finite score (nan)" in shown
    assert "scored 2 file(s), 1 failed" in shown


def test_a_nan_score_raises_for_one_input_and_fails_its_row_in_score_files(images, double_family):
    import w2s
    from w2s.core.errors import W2SError

    scorer = w2s.load("double:v2")
    assert scorer(images[0]) == pytest.approx(float(read_clip(images[0], UniformSampler(8)).frames.mean()))
    with pytest.raises(W2SError, match=rf"^{images[2]}: non-finite score \(nan\) from double:v2"):
        scorer(images[2])
    with pytest.raises(W2SError, match=rf"^item 2 of the list \({images[2]}\): non-finite score"):
        scorer(images[:3])
    with pytest.raises(W2SError, match=r"^the frames: non-finite score \(nan\) from double:frames"):
        w2s.load("double:frames")(np.zeros((2, 16, 16, 3), dtype=np.uint8))
    rows = scorer.score_files(images[:3], progress=False)
    assert rows.status.tolist() == ["ok", "ok", "failed"]
    assert np.isnan(rows.score[2]) and "non-finite score (nan)" in rows.error[2]
    assert rows.score[:2].notna().all()


def test_a_study_compares_every_model_on_the_videos_all_of_them_scored(images, double_family, tmp_path,
                                                                        monkeypatch, caplog):
    """One teacher gives NaN on v2: v2 is dropped for every model, not only for that one."""
    from types import SimpleNamespace

    from scipy import stats

    from students.prior import TeacherPrior
    from w2s.labelled.set import LabelledSet
    from w2s.study import study as S
    from w2s.testing.doubles import RecordingTeacher

    models = [S.Model("classic:sharpness", "teacher", "classic:sharpness"), S.Model("double:v2", "teacher", "double:v2"),
              S.Model("student r0", "student", "classic:colorfulness", 0)]
    prior = TeacherPrior.fit({"classic:sharpness": np.arange(5.0), "double:v2": np.arange(5.0)},
                             {"classic:sharpness": 1.0, "double:v2": 1.0})
    ctx = SimpleNamespace(config=SimpleNamespace(pool=SimpleNamespace(sampler={"name": "uniform", "num_frames": 1},
                                                                      max_side=None)),
                          folder=SimpleNamespace(study=tmp_path / "study"))
    monkeypatch.setattr("w2s.run.context.open_run", lambda run: ctx)  # a run's teachers and student, without the run
    monkeypatch.setattr(S, "run_models", lambda c: (models, prior))
    monkeypatch.setattr(S.SharedEmbedding, "scorer", lambda self, spec: RecordingTeacher())  # the "student": brightness
    mos = [4.6, 4.1, 3.0, 3.3, 1.5]
    labelled = LabelledSet(name="mine", videos=pd.DataFrame({"id": [f"v{k}" for k in range(5)],
                                                             "path": list(map(str, images)), "mos": mos}))
    with caplog.at_level("INFO"):
        report = S.study(tmp_path / "run", [("mine", labelled)], n_boot=20, device="cpu")

    summary = pd.read_parquet(tmp_path / "study" / "summary.parquet")
    assert summary.model.tolist() == ["classic:sharpness", "double:v2", "ensemble", "student r0"]
    assert set(summary.n) == {4} and set(summary.dropped) == {1} and set(summary.left_out) == {1}
    # by hand: sharpness on the four videos every model scored, not on all five
    table = pd.read_parquet(tmp_path / "study" / "mine" / "scores.parquet")
    assert table.compared.tolist() == [True, True, False, True, True]
    kept = table[table.compared]
    sharp = summary.set_index("model").loc["classic:sharpness"]
    assert sharp.srcc == pytest.approx(stats.spearmanr(kept["classic:sharpness"], kept.mos).statistic)
    assert table["classic:sharpness"].notna().all()  # v2 was scored by it, and still left out
    assert "1 dropped (not scored by every model)" in report.read_text()
    assert any("mine: 1 of 5 videos dropped" in r.getMessage() for r in caplog.records)


# --- --out: checked first, written as its extension says, never lost, resumed -------------------


@pytest.mark.parametrize("out, message", [
    ("{tmp}", "--out {tmp} is a folder; name a file in it, e.g. --out {tmp}/scores.csv"),
    ("{tmp}/no/such/s.csv", "--out {tmp}/no/such/s.csv: the folder {tmp}/no/such does not exist; create it, or name "
                            "a file in one that does"),
    ("{tmp}/s.txt", "--out {tmp}/s.txt: a '.txt' file, which w2s score cannot write; end it in .csv or .parquet"),
    ("{tmp}/scores", "--out {tmp}/scores: no extension, which w2s score cannot write; end it in .csv or .parquet"),
])
def test_a_bad_out_is_refused_before_anything_is_scored(out, message, images, tmp_path, capsys, monkeypatch):
    import w2s.score

    def never(*a, **k):
        raise AssertionError("a model was loaded before --out was checked")

    monkeypatch.setattr(w2s.score, "load", never)  # a check after the scoring would exit 3, not 2
    out = out.format(tmp=tmp_path)
    assert main(["score", "--model", "classic:sharpness", str(images[0]), "--out", out]) == 2
    assert capsys.readouterr().err == f"w2s: error: {message.format(tmp=tmp_path)}\n"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_out_is_written_in_the_format_its_extension_names(suffix, images, tmp_path):
    out = tmp_path / f"s{suffix}"
    assert main(["score", "--model", "classic:sharpness", *map(str, images[:2]), "--out", str(out)]) == 0
    if suffix == ".parquet":
        assert out.read_bytes()[:4] == b"PAR1"
        df = pd.read_parquet(out)
    else:
        assert out.read_text().startswith("path,score,score_100,status,error\n")
        df = pd.read_csv(out)
    want = [make_teacher("classic:sharpness").score(read_clip(p, UniformSampler(8))) for p in images[:2]]
    assert df.path.tolist() == list(map(str, images[:2])) and df.score.tolist() == pytest.approx(want, rel=1e-6)


@pytest.fixture
def counted(monkeypatch, double_family):
    """The files ``double:none`` (brightness, never NaN) scores, by id; stop_after=N: Ctrl-C at the N+1th."""
    from w2s.testing.doubles import NaNTeacher

    seen, real = {"ids": [], "stop_after": None}, NaNTeacher.score

    def score(self, clip):
        if seen["stop_after"] is not None and len(seen["ids"]) >= seen["stop_after"]:
            raise KeyboardInterrupt
        seen["ids"].append(clip.id)
        return real(self, clip)

    monkeypatch.setattr(NaNTeacher, "score", score)
    return seen


def test_a_failed_write_loses_no_score_and_a_rerun_writes_them_without_scoring(images, counted, tmp_path, capsys,
                                                                               monkeypatch):
    import errno

    from w2s.core import io

    out = tmp_path / "s.csv"
    real = io.write_text

    def full_disk(text, path):
        if Path(path) == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(text, path)

    monkeypatch.setattr(io, "write_text", full_disk)
    args = ["score", "--model", "double:none", *map(str, images), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    partial = tmp_path / "s.csv.partial.jsonl"
    assert err == (f"w2s: error: cannot write {out} (OSError: [Errno 28] No space left on device); the scores are "
                   f"kept in {partial}: fix that and rerun the same command (nothing is scored again)\n")
    assert not out.exists() and len(partial.read_text().splitlines()) == 1 + 5
    monkeypatch.setattr(io, "write_text", real)
    assert main(args) == 0
    assert counted["ids"] == ["v0", "v1", "v2", "v3", "v4"]  # scored once, in the first run
    want = [float(read_clip(p, UniformSampler(8)).frames.mean()) for p in images]
    assert pd.read_csv(out).score.tolist() == pytest.approx(want, rel=1e-6)


def test_score_resumes_after_a_kill_and_says_how_many_it_reused(images, counted, tmp_path, caplog):
    out = tmp_path / "s.parquet"
    args = ["score", "--model", "double:none", *map(str, images), "--out", str(out)]
    counted["stop_after"] = 2
    assert main(args) == 130 and not out.exists()
    counted["stop_after"] = None
    with caplog.at_level("INFO", logger="w2s"):
        assert main(args) == 0
    assert counted["ids"] == ["v0", "v1", "v2", "v3", "v4"]  # the two done before the kill were not scored again
    assert f"reused 2 score(s) from {out}.partial.jsonl" in caplog.text and "scoring the other 3" in caplog.text
    first = pd.read_parquet(out)

    # a file changed since it was scored is scored again; the others are reused
    from PIL import Image

    Image.new("RGB", (48, 48), (200, 10, 10)).save(images[3])
    assert main(args) == 0
    assert counted["ids"][5:] == ["v3"]
    again = pd.read_parquet(out)
    assert again.score.drop(index=3).tolist() == first.score.drop(index=3).tolist()
    assert again.score[3] == pytest.approx(float(read_clip(images[3], UniformSampler(8)).frames.mean()))


def test_a_resume_file_of_another_model_is_refused(images, double_family, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["score", "--model", "double:none", str(images[0]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["score", "--model", "double:v0", str(images[0]), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"w2s: error: {out}.partial.jsonl holds scores made with other settings "
                                       f"(model double:none, not double:v0): use another --out, or delete "
                                       f"{out}.partial.jsonl to score afresh\n")
