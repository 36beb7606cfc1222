"""What the commands print: each failure once, whole paths off a terminal, a capped table, progress as
log lines when stderr is not a terminal (w2s.cli.show, w2s.core.progress)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from w2s.cli import main
from w2s.cli.show import reason, show_failures
from w2s.core import progress as P

OWN = ("w2s", "students", "teachers", "distortions")  # the loggers a user sees without -v (w2s.cli)


@pytest.fixture
def ten_inputs(tmp_path):
    """3 good images and 7 bad inputs (missing, in a missing folder, garbage, empty, text, an empty folder),
    under a long folder name, so a cut or folded path would show."""
    from PIL import Image

    root = tmp_path / ("a_rather_long_folder_name_of_clips_" * 3)
    root.mkdir()
    rng = np.random.default_rng(0)
    good = []
    for i in range(3):
        good.append(root / f"good{i}.png")
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(good[-1])
    (root / "garbage.mp4").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "nothing_here").mkdir()
    bad = [root / "missing.mp4", root / "gone" / "missing.png", root / "also_missing.mov", root / "garbage.mp4",
           root / "empty.png", root / "text.png", root / "nothing_here"]
    return good, bad


def test_ten_files_with_seven_bad_fit_in_25_lines_each_bad_path_once(ten_inputs, tmp_path, capsys, caplog,
                                                                      monkeypatch):
    good, bad = ten_inputs
    monkeypatch.setattr(P, "MIN_SECONDS", 0.0)  # the chattiest progress: a line at every tenth
    out = tmp_path / "scores.csv"
    with caplog.at_level(logging.INFO):
        code = main(["score", "--model", "classic:sharpness", *map(str, good + bad), "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr()
    # what a user sees: our log lines (the CLI's handler shows these, one line each) and the terminal output
    logged = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in OWN and r.levelno >= logging.INFO]
    lines = printed.out.splitlines() + printed.err.splitlines() + logged
    assert len(lines) <= 25, "\n".join(lines)
    everything = "\n".join(lines)
    for path in bad:  # whole, once: in the table, with its reason, and no WARNING line repeating it
        assert everything.count(str(path)) == 1, (path, everything)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "\r" not in printed.out + printed.err  # no progress bar in output that is not a terminal
    assert any(m == "score classic:sharpness: 5/9 files (55%)" for m in logged)
    assert "scored 3 file(s), 7 failed" in printed.out  # the empty folder is a row of its own
    row = next(line for line in printed.out.splitlines() if str(bad[0]) in line)
    assert row.split(str(bad[0]))[1].strip() == "no such file"  # the path once, the reason once


def test_the_failures_table_shows_20_rows_then_counts_the_rest(capsys):
    df = pd.DataFrame({"path": [f"clips/v{i:02d}.mp4" for i in range(23)],
                       "error": [f"clips/v{i:02d}.mp4: no such file" for i in range(23)]})
    assert show_failures(df, "path", "error", "runs/x/failures.parquet") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].strip() == "23 file(s) could not be used (also in runs/x/failures.parquet)"
    rows = [line.split() for line in out if line.strip().startswith("clips/")]
    assert rows == [[f"clips/v{i:02d}.mp4", "no", "such", "file"] for i in range(20)]
    assert out[-1] == "3 more in runs/x/failures.parquet"
    assert show_failures(df[:0], "path", "error", "x") == 0 and capsys.readouterr().out == ""


def test_a_reason_drops_the_path_the_table_already_shows():
    assert reason("clips/a.mp4", "clips/a.mp4: no such file") == "no such file"
    assert reason("clips/a.mp4", "cannot read video 'clips/a.mp4': file not found") == "cannot read video: file not found"
    assert reason("./clips/a.mp4", "clips/a.mp4: no such file") == "no such file"  # as Path() spells it
    assert reason("a.mp4", "the model ran out of memory") == "the model ran out of memory"


def test_progress_off_a_terminal_is_a_log_line_each_tenth(monkeypatch, caplog):
    monkeypatch.setattr(P, "interactive", lambda: False)
    monkeypatch.setattr(P, "MIN_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="w2s.core.progress"):
        assert list(P.progress(range(20), "work", "item")) == list(range(20))
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:-1] == [f"work: {2 * k}/20 items ({10 * k}%)" for k in range(1, 10)]
    assert messages[-1] == "work: 20 items done in 0 s"

    caplog.clear()  # 7 items: a line at each tenth the count crosses, never two for one tenth
    with caplog.at_level(logging.INFO, logger="w2s.core.progress"):
        list(P.progress(iter(range(7)), "work", "item", total=7))
    assert [r.getMessage() for r in caplog.records][:-1] == [f"work: {k}/7 items ({100 * k // 7}%)" for k in range(1, 7)]


def test_progress_says_nothing_for_a_quick_loop_or_when_disabled(monkeypatch, caplog):
    monkeypatch.setattr(P, "interactive", lambda: False)
    data = [1, 2, 3]
    assert P.progress(data, "work", enabled=False) is data
    with caplog.at_level(logging.INFO, logger="w2s.core.progress"):
        assert list(P.progress(data, "work")) == data  # MIN_SECONDS: a quick loop logs no line
    assert not caplog.records


def test_progress_on_a_terminal_is_a_tqdm_bar(monkeypatch, capsys):
    monkeypatch.setattr(P, "interactive", lambda: True)
    assert list(P.progress(range(5), "work", "item")) == list(range(5))
    assert "\r" in capsys.readouterr().err  # tqdm's bar, drawn in place
