"""Crash-safe writes: a temp name, then a rename; a stage's DONE marker last.

A run killed at any point leaves either a complete file or none under the
final name, so a rerun can trust whatever it finds. Temp names are hidden
(``.NAME.PID.tmp``) and no reader looks for them, so a leftover one is absent.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

DONE = "DONE"


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk: a rename must not outlive its content in a
    power cut. A kill alone needs no flush (the page cache survives the process); this is cheap
    at the size and count of a run's files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A hidden temp path beside ``path`` to write to; renamed to ``path`` when the block ends,
    removed when it raises. ``path`` holds the old content or the new, whole, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def replacing_folder(path: str | Path) -> Iterator[Path]:
    """:func:`replacing` for a folder: fill the yielded one; it becomes ``path`` when the block ends.

    A folder cannot be renamed over a full one, so an old ``path`` is first moved aside (and then
    removed): a kill between the two renames leaves no ``path``, which reads as not yet written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of this pid's earlier life
    tmp.mkdir()
    try:
        yield tmp
        swap_in(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap_in(full: Path, path: Path) -> None:
    """Rename the complete folder ``full`` to ``path``, replacing what was there (see :func:`replacing_folder`)."""
    for f in full.iterdir():
        if f.is_file():
            _fsync(f)
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    if path.exists():
        os.replace(path, old)
    os.replace(full, path)
    _fsync(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    with replacing(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(obj, path: str | Path) -> None:
    write_text(json.dumps(obj, indent=2, default=float), path)


def write_text(text: str, path: str | Path) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    with replacing(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / DONE).is_file()


def mark_done(folder: str | Path) -> None:
    write_text("", Path(folder) / DONE)
