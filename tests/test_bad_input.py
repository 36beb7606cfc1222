"""Bad input, config mistakes and Ctrl-C, through the real command line (``python -m w2s``).

The corpus (:func:`w2s.testing.bad_media.build_bad_corpus`, generated in seconds, nothing
committed) is mixed with good clips; ``w2s score``, ``w2s evaluate`` and ``w2s run`` must
score every good file, list every bad one with a reason, exit 1, and show no traceback and
no third-party log line. What becomes of each kind (the README says the same):

=================================  ===========================================================
kind                               outcome
=================================  ===========================================================
zero-byte file                     failed: "file is empty"
truncated mp4 (index cut off)      failed: "not a video file, or corrupt or truncated data"
text file named ``.mp4``           failed: "not a video file, or corrupt or truncated data"
audio-only file                    failed: "no video stream"
undecodable video stream           failed: "corrupt or truncated data" (zeroed video data)
1x1 video                          failed: "frames of 1x1 pixels are too small to score"
                                   (each side must be at least 8: PIQE fails below that)
symlink loop between two files     failed, each: "a symbolic link that leads to no file"
2-frame video                      scored (its 2 frames, however many the sampler asks for)
4K frames                          scored (shrunk to ``max_side`` where the model has one)
10-bit video                       scored (converted to 8-bit RGB)
grayscale video                    scored (grey in three channels)
variable frame rate                scored (frames picked by index)
rotation metadata                  scored as stored: the rotation flag is not applied
still image (.png)                 scored as a one-frame clip
animated GIF                       scored as a video
unicode and spaces in the path     scored (the id replaces spaces, '#' and '@' by '_')
folder named like a video          a folder: the videos in it are scanned like any subfolder's;
                                   named on ``w2s score``'s command line and empty: failed
symlink loop of folders            ignored (links to folders are not followed)
other extensions (.txt)            ignored (not media)
missing file (``w2s score``)       failed: "no such file"
=================================  ===========================================================
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from w2s.cli import main
from w2s.media.scan import derive_id
from w2s.testing.bad_media import build_bad_corpus

REPO = Path(__file__).resolve().parents[1]
OWN = ("w2s", "students", "teachers", "distortions")
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+):")


def w2s(*args: str, cwd: Path, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """``python -m w2s ARGS`` in a fresh process, as a user runs it (``popen=True``: not waited for)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "w2s", *args]
    if popen.pop("popen", False):
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_ctrl_c_reaches_it)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _ctrl_c_reaches_it() -> None:
    """In the child before exec: SIGINT back to its default, so Python turns it into Ctrl-C. A shell
    that runs the suite in the background (``make test &``, some CI runners) starts it with SIGINT
    ignored, every child inherits that, and a Python started so never sees a Ctrl-C at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_clean(stderr: str) -> None:
    """No traceback, and every log line from this project's own loggers (none from a third party)."""
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        for _, name in LOG_LINE.findall(line):
            assert name.split(".")[0] in OWN, f"a third-party log line: {line}"
    # pyiqa's own handler ("2026-01-01 10:00:00,123 INFO: Network [PIQE] is created.")
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+:", stderr), stderr
    assert "Network [" not in stderr, stderr
    assert " @ 0x" not in stderr, stderr  # ffmpeg's own messages ("[h264 @ 0x55d...] ...")



@pytest.fixture(scope="module")
def pool(tmp_path_factory, sample_pools):
    """The corpus, plus two good clips, in one folder."""
    folder = tmp_path_factory.mktemp("bad") / "pool"
    corpus = build_bad_corpus(folder)
    good = sorted(sample_pools["train"].glob("*.mp4"))[:2]
    for clip in good:
        shutil.copy(clip, folder / clip.name)
    return folder, corpus, [folder / c.name for c in good]


def expected(pool) -> tuple[list[Path], dict[Path, str]]:
    """The files that must be scored, and the failed ones with a part of their reason."""
    _, corpus, good = pool
    scored = good + [f.path for f in corpus if f.outcome == "scored"]
    failed = {f.path: f.reason for f in corpus if f.outcome == "failed"}
    return scored, failed


def test_corpus_has_every_kind(pool):
    folder, corpus, _ = pool
    assert len(corpus) >= 15
    for f in corpus:
        assert f.path.is_symlink() or f.path.exists(), f.kind
    assert os.path.realpath(folder / "loop_dir") == os.path.realpath(folder)


def test_score_lists_bad_files_and_exits_1(pool, tmp_path):
    folder = pool[0]
    scored, failed = expected(pool)
    (tmp_path / "empty.mp4").mkdir()  # a folder named like a video, empty, named on the command line
    out = tmp_path / "s.csv"
    done = w2s("score", "--model", "pyiqa:entropy", str(folder), "missing.mp4", str(tmp_path / "empty.mp4"),
               "--out", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert_clean(done.stderr)
    df = pd.read_csv(out, keep_default_na=False).set_index("path")
    ok = df[df.status == "ok"]
    assert sorted(ok.index) == sorted(map(str, scored))
    assert ok.score.astype(float).notna().all()
    bad = df[df.status == "failed"]
    assert sorted(bad.index) == sorted([*map(str, failed), "missing.mp4", str(tmp_path / "empty.mp4")])
    for path, reason in failed.items():
        assert reason in bad.error[str(path)], (path, bad.error[str(path)])
    assert "no such file" in bad.error["missing.mp4"]
    assert "no videos or images" in bad.error[str(tmp_path / "empty.mp4")]
    # the failures on the terminal too, and the count
    assert f"{len(failed) + 2} file(s) could not be used" in done.stdout
    assert f"scored {len(scored)} file(s), {len(failed) + 2} failed" in done.stdout


def test_evaluate_lists_bad_files_and_exits_1(pool, tmp_path):
    folder = pool[0]
    scored, failed = expected(pool)
    files = [*scored, *failed]
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": [str(p.relative_to(folder)) for p in files],
                  "mos": [1.0 + i for i in range(len(files))]}).to_csv(labels, index=False)
    out = tmp_path / "eval"
    done = w2s("evaluate", "--model", "pyiqa:entropy", "--dataset", str(labels), "--root", str(folder), "--out", str(out),
               "--option", "path_column=file", "--option", "mos_column=mos", "--bootstrap", "20", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert_clean(done.stderr)
    scores = pd.read_parquet(out / "scores.parquet")
    assert sorted(scores.path[scores.status == "ok"]) == sorted(map(str, scored))
    failures = pd.read_parquet(out / "failures.parquet").set_index("path")
    assert sorted(failures.index) == sorted(map(str, failed))
    for path, reason in failed.items():
        assert reason in failures.reason[str(path)], (path, failures.reason[str(path)])
    assert f"{len(failed)} file(s) could not be used" in done.stdout


RUN_CONFIG = """
name: bad
output_dir: {out}
seed: 0
rounds: 1
teachers: [pyiqa:piqe, pyiqa:entropy]
distortions: {{blur: [3.0]}}
pool: {{source: {pool}, max_side: 64, sampler: {{name: uniform, num_frames: 2}}}}
pairs: {{teacher_pairs: 100, clean_pairs: 0}}
hard_cases: {{folds: 2, teacher: 10, candidates: 100}}
train: {{epochs: 2, batch_size: 64}}
eval: {{source: none}}
"""


def test_run_interrupted_then_resumed_over_bad_files(pool, tmp_path):
    """Ctrl-C in the label stage: exit 130, one line on how to resume; the rerun keeps the videos
    already labelled, scores every good file, lists every bad one and exits 1."""
    folder = pool[0]
    scored, failed = expected(pool)
    config = tmp_path / "bad.yaml"
    config.write_text(RUN_CONFIG.format(out=tmp_path / "runs", pool=folder))
    shards = tmp_path / "runs" / "bad" / "label" / "shards"

    proc = w2s("run", str(config), cwd=tmp_path, popen=True)
    deadline = time.monotonic() + 300
    while not list(shards.glob("*.parquet")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert_clean(stderr)
    last = stderr.strip().splitlines()[-1]
    assert last == "w2s: interrupted; rerun the same command to resume (finished stages and labelled videos are kept)"
    kept = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet")}
    assert kept and not (shards.parent / "DONE").exists()

    done = w2s("run", str(config), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert_clean(done.stderr)
    assert {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet") if p.name in kept} == kept  # not redone
    run = tmp_path / "runs" / "bad"
    items = pd.read_parquet(run / "label" / "items.parquet")
    assert sorted(items.video_id.unique()) == sorted(derive_id(p.relative_to(folder)) for p in scored)
    assert (run / "round_00" / "student" / "model.safetensors").exists()
    failures = pd.read_parquet(run / "failures.parquet").set_index("path")
    assert sorted(failures.index) == sorted(map(str, failed))
    for path, reason in failed.items():
        assert reason in failures.error[str(path)], (path, failures.error[str(path)])
    assert f"{len(failed)} file(s) could not be used" in done.stdout


def test_score_interrupted_says_where_the_scores_are_kept(sample_pools, tmp_path):
    """Ctrl-C during `w2s -v score`; -v also shows the third-party log lines hidden everywhere else."""
    out = tmp_path / "s.csv"
    clips = [str(p) for p in sorted(sample_pools["train"].glob("*.mp4"))] * 50  # long enough to interrupt
    proc = w2s("-v", "score", "--model", "pyiqa:piqe", *clips, "--out", str(out), cwd=tmp_path, popen=True)
    # scoring has begun: two rows saved (a settings line, then one per file); stderr is a few lines, no pipe fills
    partial = tmp_path / "s.csv.partial.jsonl"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and (
            not partial.exists() or len(partial.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "Network [PIQE] is created" in stderr  # pyiqa's INFO line, shown with -v
    assert stderr.strip().splitlines()[-1] == (f"w2s: interrupted; the files scored so far are kept in {partial}; "
                                               "rerun the same command to resume")
    assert not out.exists() and len(partial.read_text().splitlines()) >= 3


# --- config and CLI mistakes: one line naming the key or file and what to do, exit 2 ----------------


@pytest.fixture
def student_folder(tmp_path, backbone):
    import numpy as np
    import torch

    from students.calibration import CalibrationHead
    from students.student import Student

    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    head.set_normalization(torch.randn(20, backbone.dim))
    path = tmp_path / "student"
    Student("efficientnet_lite0", head, backbone=backbone, meta={"train_score_quantiles": np.linspace(0, 1, 101).tolist()}).save_pretrained(path)
    return path


def one_line_error(capsys, argv: list[str]) -> str:
    """The one line a mistake prints (progress bars aside), after checking the exit code is 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]  # tqdm bars: not messages
    assert len(lines) == 1 and lines[0].startswith("w2s: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "override, message",
    [
        ("pairs.teacher_pair=3", "unknown key 'pairs.teacher_pair': did you mean 'teacher_pairs'"),
        ("rounds=two", "rounds must be int, got 'two'"),
        ("teachers=[pyiqa:piqee]", "did you mean 'piqe'"),
        ("student.backbone=efficientnet_lite9", "efficientnet_lite9"),
        ("distortions={blurr: [1.0]}", "did you mean 'blur'"),
        ("pool.source=/no/such/pool", "pool source not found: /no/such/pool"),
    ],
)
def test_config_mistakes(override, message, tiny_config, capsys):
    err = one_line_error(capsys, ["run", str(tiny_config("mistakes")), "--set", override])
    assert message in err


def test_missing_config_file_and_empty_pools(tiny_config, pool, tmp_path, capsys):
    assert "config file not found: nope.yaml" in one_line_error(capsys, ["run", "nope.yaml"])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no media here")
    cfg = str(tiny_config("empty"))
    err = one_line_error(capsys, ["run", cfg, "--set", f"pool.source={empty}", "--set", "eval.source=none"])
    assert f"pool source '{empty}' is empty: no videos or images" in err
    assert "is empty: no videos or images" in one_line_error(capsys, ["score", "--model", "pyiqa:entropy", str(empty), "--out", "x.csv"])
    # a pool of only unreadable files
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.mp4").write_bytes(b"")
    err = one_line_error(capsys, ["run", str(tiny_config("broken")), "--set", f"pool.source={broken}", "--set", "eval.source=none"])
    assert f"no readable video in the pool {broken}" in err and "manifest.parquet" in err
    assert "video folder not found: /no/videos" in one_line_error(
        capsys, ["evaluate", "--model", "pyiqa:entropy", "--dataset", "konvid1k", "--root", "/no/videos", "--out", "o"])


def test_a_run_folder_made_by_another_config(tiny_config, tmp_path, capsys):
    from w2s.config import load_config
    from w2s.run.provenance import write_run_config

    cfg = tiny_config("other")
    write_run_config(load_config(cfg), tmp_path / "runs" / "other" / "config.yaml")  # as a first run leaves it
    shards = tmp_path / "runs" / "other" / "label" / "shards"  # ... with a labelled video: a result
    shards.mkdir(parents=True)
    (shards / "v.parquet").write_bytes(b"")
    err = one_line_error(capsys, ["run", str(cfg), "--set", "seed=1"])
    assert f"{tmp_path / 'runs' / 'other'} was made with a different config (seed changed)" in err
    assert "give the run a new name (`--set name=NEW --reuse" in err and "or delete that folder" in err


def test_a_student_folder_without_or_with_corrupt_weights(student_folder, sample_pools, capsys):
    clip = str(next(iter(sorted(sample_pools["eval"].glob("*.mp4")))))
    weights = student_folder / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    err = one_line_error(capsys, ["score", "--model", str(student_folder), clip, "--out", "x.csv"])
    assert f"{student_folder} holds a damaged saved student" in err and "copy the folder again" in err
    weights.unlink()
    err = one_line_error(capsys, ["score", "--model", str(student_folder), clip, "--out", "x.csv"])
    assert f"{student_folder} is not a saved student: expected config.json and model.safetensors" in err
    (student_folder / "config.json").unlink()  # an empty folder
    err = one_line_error(capsys, ["score", "--model", str(student_folder), clip, "--out", "x.csv"])
    assert f"no saved student at '{student_folder}'" in err and "runs/NAME/round_XX/student" in err


def test_a_bug_is_one_line_without_v_and_a_traceback_with_it(monkeypatch, capsys):
    import w2s.score

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(w2s.score, "score_paths", broken)
    assert main(["score", "--model", "pyiqa:entropy", "x.mp4", "--out", "x.csv"]) == 3
    err = capsys.readouterr().err
    assert err == "w2s: internal error (ZeroDivisionError: a bug); rerun with -v for the traceback, and please report it\n"
    with pytest.raises(ZeroDivisionError):
        main(["-v", "score", "--model", "pyiqa:entropy", "x.mp4", "--out", "x.csv"])


def test_evaluate_interrupted_says_how_to_resume(monkeypatch, tmp_path, capsys):
    """The line Ctrl-C prints for evaluate (that a rerun resumes from its cache: tests/test_study_eval.py)."""
    import w2s.study.model_eval

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(w2s.study.model_eval, "evaluate_model", interrupted)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,mos\na.mp4,1\n")
    (tmp_path / "a.mp4").write_bytes(b"")
    argv = ["evaluate", "--model", "pyiqa:entropy", "--dataset", str(labels), "--root", str(tmp_path), "--out", "ev",
            "--option", "path_column=file", "--option", "mos_column=mos"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.endswith("w2s: interrupted; rerun the same command to resume (the videos already done are kept in ev)\n")
    assert "Traceback" not in err
