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

import numpy as np
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


# safetensors dtype names <-> numpy, for the one-tensor files written and mapped below
_NUMPY_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}


def write_rows(name: str, blocks, rows: int, dim: int, path: str | Path, dtype: str = "F32") -> None:
    """A safetensors file of one (rows, dim) tensor ``name``, written block by block.

    ``blocks`` yields (n_i, dim) tensors whose rows add up to ``rows``: the file is
    never whole in memory (a 200k-video pool's features are tens of GB). The file
    is the format :func:`read_tensors` and safetensors read; atomic as every write here.
    """
    np_dtype = np.dtype(_NUMPY_DTYPES[dtype])
    size = rows * dim * np_dtype.itemsize
    header = json.dumps({name: {"dtype": dtype, "shape": [rows, dim], "data_offsets": [0, size]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    written = 0
    with replacing(path) as tmp, open(tmp, "wb") as out:
        out.write(len(header).to_bytes(8, "little"))
        out.write(header)
        for block in blocks:
            array = np.ascontiguousarray(block.detach().cpu().numpy(), dtype=np_dtype)
            if array.ndim != 2 or array.shape[1] != dim:
                raise ValueError(f"{path}: a block of shape {array.shape} in a ({rows}, {dim}) tensor")
            out.write(array.tobytes())
            written += len(array)
        if written != rows:
            raise ValueError(f"{path}: {written} rows written, {rows} announced")
        out.flush()


def map_tensor(path: str | Path, name: str) -> torch.Tensor:
    """Tensor ``name`` of a safetensors file, memory-mapped instead of read: rows are paged in
    from disk when used, and processes that map one file share its pages. Copy-on-write, so
    the tensor is writable in memory and the file is never changed. A dtype numpy lacks
    (bf16) is read whole instead."""
    path = Path(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    if name not in header:
        raise KeyError(f"{path} holds no tensor {name!r} (it has {sorted(k for k in header if k != '__metadata__')})")
    entry = header[name]
    if entry["dtype"] not in _NUMPY_DTYPES:
        return load_file(str(path))[name]
    start, end = entry["data_offsets"]
    shape = tuple(entry["shape"])
    if end == start:
        return torch.from_numpy(np.zeros(shape, dtype=_NUMPY_DTYPES[entry["dtype"]]))
    array = np.memmap(path, dtype=_NUMPY_DTYPES[entry["dtype"]], mode="c", offset=8 + n + start, shape=shape)
    return torch.from_numpy(array)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / DONE).is_file()


def mark_done(folder: str | Path) -> None:
    write_text("", Path(folder) / DONE)
