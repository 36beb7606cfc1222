"""Crash-safe writes: a process killed mid-write leaves the old file or none, never half of one."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from w2s.core import io
from w2s.run.folder import cached

REPO = Path(__file__).parents[1]


def killed_mid_write(code: str, tmp_path: Path) -> None:
    """Run ``code`` in a fresh interpreter that SIGKILLs itself where the code says ``die()``."""
    prelude = "import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def test_parquet_killed_half_written_is_absent_and_the_stage_recomputes(tmp_path):
    target = tmp_path / "pairs.parquet"
    # to_parquet writes half of a real file, then the process is killed: a truncated parquet
    killed_mid_write("""
        import pandas as pd
        from w2s.core import io
        def half(self, path, **kw):
            import io as b
            buf = b.BytesIO(); pd.DataFrame.__dict__['_real'](self, buf, **kw)
            open(path, 'wb').write(buf.getvalue()[: len(buf.getvalue()) // 2]); die()
        pd.DataFrame._real = pd.DataFrame.to_parquet
        pd.DataFrame.to_parquet = half
        io.write_parquet(pd.DataFrame({'a': range(1000)}), 'pairs.parquet')
    """, tmp_path)
    assert not target.exists()
    leftovers = list(tmp_path.glob(".pairs.parquet.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the half file, under its hidden name
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow says of half a file
        pd.read_parquet(leftovers[0])
    # the stage that owns the file sees nothing there and computes it
    calls = []
    value = cached(target, lambda: calls.append(1) or pd.DataFrame({"a": [1, 2]}), io.write_parquet, pd.read_parquet)
    assert calls == [1] and list(value.a) == [1, 2] and list(pd.read_parquet(target).a) == [1, 2]


def test_a_kill_while_replacing_keeps_the_old_file_whole(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json({"srcc": 0.5}, target)
    killed_mid_write("""
        from w2s.core import io
        with io.replacing('metrics.json') as tmp:
            tmp.write_text('{"srcc": 0.')
            die()
    """, tmp_path)
    assert io.read_json(target) == {"srcc": 0.5}


def test_an_error_while_writing_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "x.safetensors"
    with pytest.raises(RuntimeError, match="disk full"), io.replacing(target) as tmp:
        tmp.write_bytes(b"12")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    io.write_tensors({"f": torch.arange(3.0)}, target, metadata={"k": "v"})
    assert torch.equal(io.read_tensors(target)["f"], torch.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]


def test_a_student_folder_killed_mid_save_is_not_a_student(tmp_path):
    killed_mid_write("""
        from pathlib import Path
        import safetensors.torch as st
        from students.calibration import CalibrationHead
        from students.student import Student
        from w2s.config import StudentConfig
        real = st.save_file
        def then_die(*a, **k):
            real(*a, **k); die()  # the weights are written, the config never is
        import students.student as module
        module.save_file = then_die
        Student.from_config(StudentConfig(hidden=4), CalibrationHead(8, hidden=4)).save_pretrained('student')
    """, tmp_path)
    assert not (tmp_path / "student").exists()
    from students.student import Student
    from w2s.core.errors import W2SError

    with pytest.raises(W2SError, match="is not a saved student"):
        Student.from_pretrained(tmp_path / "student")


def test_a_folder_replaced_whole(tmp_path):
    target = tmp_path / "student"
    with io.replacing_folder(target) as tmp:
        (tmp / "a").write_text("1")
    with io.replacing_folder(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["student"]  # no temp or old folder left
