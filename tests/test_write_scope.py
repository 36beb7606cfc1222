"""Nothing writes outside the run folder and the output path given.

A tiny ``w2s run`` (one round, codec variants in its eval set) and ``w2s score --out`` run as
the user would, in child processes whose HOME, TMPDIR and working folder are empty folders
watched by the test, with no cache variable set (so every cache torch, Hugging Face, pyiqa or
matplotlib might use would fall under HOME). Afterwards the only new files are in the run
folder and the score table. Declared allowance: temporaries in TMPDIR while a command runs
(ffmpeg's codec round trips, the VMAF logs), which must be gone when it ends, and one empty
folder: ``$TMPDIR/torchinductor_$USER``, which importing ``torch._dynamo`` (timm and pyiqa do)
creates for torch's compile cache; nothing is compiled, so it stays empty. No other cache is
written (everything the quickstart needs ships in packages).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

CACHE_VARIABLES = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TORCH_HOME", "HF_HOME", "HF_HUB_CACHE",
                   "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE", "MPLCONFIGDIR", "PYTHONPYCACHEPREFIX")


def snapshot(*roots: Path) -> set[str]:
    found = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            found.update(os.path.join(folder, name) for name in dirs + files)
    return found


def w2s(args: list[str], home: Path, tmp: Path, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env.update(HOME=str(home), TMPDIR=str(tmp), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    # the checkout first on the path, as in this process
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "w2s", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_run_and_score_write_only_where_told(tiny_config, tmp_path, sample_pools):
    config = tiny_config("scope")
    config.write_text(config.read_text().replace("rounds: 2", "rounds: 1"))
    home, tmp, cwd, out = (tmp_path / n for n in ("home", "tmp", "cwd", "out"))
    for d in (home, tmp, cwd, out):
        d.mkdir()
    watched = (tmp_path, *sample_pools.values())
    before = snapshot(*watched)

    w2s(["run", str(config)], home, tmp, cwd)
    student = tmp_path / "runs" / "scope" / "round_00" / "student"
    clips = sorted(str(p) for p in sample_pools["eval"].glob("*.mp4"))[:2]
    w2s(["score", "--model", str(student), "--out", str(out / "student.csv"), *clips], home, tmp, cwd)

    new = snapshot(*watched) - before
    run = str(tmp_path / "runs")
    # the table, and beside it the rows as they were scored (what a rerun resumes from: w2s.score)
    allowed = {run, str(out / "student.csv"), str(out / "student.csv.partial.jsonl")}
    inductor = [p for p in new if Path(p).parent == tmp and Path(p).name.startswith("torchinductor_")]
    assert all(Path(p).is_dir() and not any(Path(p).iterdir()) for p in inductor)  # torch's, and empty
    outside = sorted(p for p in new if p not in allowed and not p.startswith(run + os.sep) and p not in inductor)
    assert outside == []
    assert (student / "model.safetensors").is_file()  # the run wrote where it was told ...
    table = pd.read_csv(out / "student.csv")  # ... and so did score
    assert list(table.path) == clips and (table.status == "ok").all()
