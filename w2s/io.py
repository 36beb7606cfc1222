"""Crash-safe writes: a temp name, then a rename; a stage's DONE marker last.

A run killed at any point leaves either a complete file or none under the
final name, so a rerun can trust whatever it finds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

DONE = "DONE"


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_json(obj, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    os.replace(tmp, path)


def write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def write_tensors(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / DONE).is_file()


def mark_done(folder: str | Path) -> None:
    write_text("", Path(folder) / DONE)
