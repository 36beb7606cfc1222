"""Small things a user reaches for: --version, -v after the command, lists scored by a named column,
a short `w2s list teachers`, and `load` in dir(w2s)."""

import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import w2s.cli
from w2s.cli import main
from w2s.testing.media import write_video


def test_version_prints_the_installed_packages_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"w2s {importlib.metadata.version('w2s-vqa')}\n"


@pytest.mark.parametrize("argv", [["-v", "score"], ["score", "-v"], ["score", "--verbose"]])
def test_verbose_is_taken_before_or_after_the_command(argv, monkeypatch, tmp_path, capsys):
    def boom(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(w2s.cli, "cmd_score", boom)
    command = [*argv, "--model", "pyiqa:entropy", "x.mp4", "--out", str(tmp_path / "s.csv")]
    with pytest.raises(RuntimeError, match="a bug"):  # -v: the traceback, wherever -v stood
        main(command)
    # without -v: one line that says to rerun with -v, exit 3
    assert main([a for a in command if a not in ("-v", "--verbose")]) == 3
    assert "rerun with -v for the traceback" in capsys.readouterr().err


def test_no_verbose_is_false_and_a_flag_before_is_not_reset_by_the_subcommand():
    assert not hasattr(w2s.cli.parser().parse_args(["list", "datasets"]), "verbose")  # main reads it as False
    assert w2s.cli.parser().parse_args(["-v", "list", "datasets"]).verbose is True


# --- w2s score on lists ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("listed")
    rng = np.random.default_rng(0)
    for name in ("a.mp4", "b.mp4"):
        write_video(folder / name, [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)])
    return folder


def _score(args, tmp_path):
    out = tmp_path / "scores.csv"
    code = main(["score", "--model", "pyiqa:entropy", *map(str, args), "--out", str(out)])
    return code, (pd.read_csv(out, keep_default_na=False) if out.exists() else None)


def test_score_reads_a_list_by_a_column_found_by_name(videos, tmp_path):
    listing = videos / "mine.csv"
    listing.write_text("File Name,mos\na.mp4,3\nb.mp4,4\n")  # paths relative to the list's folder
    code, df = _score([listing], tmp_path)
    assert code == 0
    assert df.path.tolist() == [str(videos / "a.mp4"), str(videos / "b.mp4")] and (df.status == "ok").all()
    jsonl = videos / "mine.jsonl"
    jsonl.write_text('{"video": "b.mp4", "title": "x"}\n{"video": "a.mp4"}\n')
    code, df = _score([jsonl], tmp_path)
    assert code == 0 and df.path.tolist() == [str(videos / "b.mp4"), str(videos / "a.mp4")]


def test_score_reads_the_column_it_is_told(videos, tmp_path):
    listing = videos / "told.csv"
    listing.write_text("clip,name\na.mp4,first\n")  # 'name' is a title here; --column says where the file is
    code, df = _score([listing, "--column", "clip"], tmp_path)
    assert code == 0 and df.path.tolist() == [str(videos / "a.mp4")]


@pytest.mark.parametrize("text, column, message", [
    ("file,name\na.mp4,b.mp4\n", None,
     "told.csv: columns 'file', 'name' could each hold the video paths; its columns are: 'file', 'name'; "
     "pass --column NAME (Python: column=NAME) to pick one"),
    ("clip,mos\na.mp4,1\n", None, "told.csv: no column is named like one holding the video paths"),
    ("clip,mos\na.mp4,1\n", "nope",
     "told.csv has no column 'nope'; its columns are: 'clip', 'mos'; pass --column NAME (Python: column=NAME)"),
    ("path\n\n \n", None, "told.csv, line 3: empty 'path'; give the video or image file for every row"),
])
def test_a_list_whose_column_cannot_be_told_is_a_usage_error(videos, tmp_path, capsys, text, column, message):
    listing = tmp_path / "told.csv"
    listing.write_text(text)
    code, df = _score([listing, *(["--column", column] if column else [])], tmp_path)
    assert code == 2 and df is None
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_column_without_a_list_is_a_usage_error(videos, tmp_path, capsys):
    code, _ = _score([videos / "a.mp4", "--column", "path"], tmp_path)
    assert code == 2
    assert "--column path names the path column of a .csv/.jsonl list, and no input is one" in capsys.readouterr().err


def test_evaluate_names_the_option_when_a_label_files_columns_are_ambiguous(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,name,mos\na.mp4,x,3\n")
    code = main(["evaluate", "--model", "pyiqa:entropy", "--dataset", str(labels), "--root", str(tmp_path),
                 "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "columns 'file', 'name' could each hold the video paths" in err and "--option path_column=NAME" in err


# --- w2s list teachers -----------------------------------------------------------------------------


def _rows(out: str) -> list[list[str]]:
    """The table's rows (teacher, runs here, notes), the first line of each."""
    return [[c.strip() for c in line.split("│")[1:4]] for line in out.splitlines()
            if line.startswith("│ ") and line.split("│")[1].strip()]


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "300")


def test_list_teachers_shows_what_runs_here_first_and_all_with_all(no_weights, capsys):
    from teachers.classic import METRICS
    from teachers.full_reference import FR_METRICS
    from teachers.pyiqa_requirements import all_availability

    avail = all_availability()
    lacking = sorted(f"pyiqa:{m}" for m, a in avail.items() if not a.ready)
    assert main(["list", "teachers"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    status = {name: here for name, here, _ in rows}
    # every classic: and fr: name, each with "runs here" filled, before the families named by a path
    assert {f"classic:{m}" for m in METRICS} | {f"fr:{m}" for m in FR_METRICS} <= set(status)
    assert all(status[f"classic:{m}"] == "yes" for m in METRICS) and all(status[f"fr:{m}"] == "yes" for m in FR_METRICS)
    assert status["pyiqa:entropy"] == "yes" and not set(lacking) & set(status)
    order = [name for name, _, _ in rows]
    assert max(order.index(n) for n, s in status.items() if s == "yes") < order.index("student:PATH")
    assert f"{len(lacking)} more pyiqa metrics need weight files that are not here: `w2s list teachers --all`" in \
        " ".join(out.split())
    assert len(rows) < 30  # short: one screen
    assert main(["list", "teachers", "--all"]) == 0
    every = {name: here for name, here, _ in _rows(capsys.readouterr().out)}
    assert set(lacking) <= set(every) and all(every[n] == "no" for n in lacking)


def test_a_classic_teacher_whose_package_is_missing_says_so(no_weights, monkeypatch, capsys):
    import w2s.cli.listings as listings

    monkeypatch.setattr(listings, "_installed", lambda package: package != "brisque")
    assert main(["list", "teachers"]) == 0
    rows = {name: (here, note) for name, here, note in _rows(capsys.readouterr().out)}
    assert rows["classic:brisque"][0] == "no" and "needs python package brisque" in rows["classic:brisque"][1]
    assert rows["classic:sharpness"][0] == "yes"


def test_load_is_in_dir_w2s_without_importing_torch():
    code = "import sys, w2s; d = dir(w2s); assert 'load' in d and 'Scorer' in d, d; assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_make_clean_removes_only_what_setup_and_demo_made():
    import shutil
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    repo = Path(__file__).resolve().parents[1]
    # Under `make test` this runs inside a make: without its variables and with
    # --no-print-directory, the dry run prints only the recipe.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "clean"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert dry.split() == ["rm", "-rf", ".venv", "runs/quickstart"]  # a researcher's other runs stay
