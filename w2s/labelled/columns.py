"""Which column of a table holds the video paths, and which the scores, when nobody said; the files a list names.

A column is taken by its name alone, case and spaces aside: ``path`` (or
``mos``) wins outright; else exactly one of the other usual names must be
there. Two candidates, or none, is a :class:`LabelFileError` that lists the
columns and names the option that picks one: a guess between two plausible
columns would measure the wrong thing without a word.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from w2s.labelled.formats import LabelFileError

# role -> (what it holds, the name that wins outright, the other usual names), compared normalised (_normal)
ROLES = {
    "path": ("video paths", "path", ("file", "filename", "file_name", "filepath", "file_path", "name", "video",
                                     "video_name", "videoname", "video_path", "video_file", "image", "image_name")),
    "mos": ("scores", "mos", ("dmos", "score", "mos_score", "mean_opinion_score", "quality", "rating",
                              "subjective_score", "mean_score")),
}


def _normal(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def find_column(columns: list[str], role: str, source: object, option: str) -> str:
    """The one column of ``columns`` that holds ``role`` ('path' or 'mos') by its name.

    ``source`` (the file) and ``option`` (how to name a column, e.g. ``mos_column=NAME``) go into the
    error when there is no such column or more than one.

    >>> find_column(["File Name", "MOS", "std"], "mos", "a.csv", "mos_column=NAME")
    'MOS'
    >>> find_column(["path", "name", "score"], "path", "a.csv", "path_column=NAME")  # 'path' wins outright
    'path'
    """
    what, first, others = ROLES[role]
    listed = ", ".join(map(repr, columns))
    for tier in ((first,), others):
        found = [c for c in columns if _normal(c) in tier]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise LabelFileError(f"{source}: columns {', '.join(map(repr, found))} could each hold the {what}; its "
                                 f"columns are: {listed}; pass {option} to pick one")
    raise LabelFileError(f"{source}: no column is named like one holding the {what} ({first}, {', '.join(others[:4])}, "
                         f"...); its columns are: {listed}; pass {option} naming one of them")


def listed_paths(path: Path, column: str | None = None) -> list[str]:
    """The files a ``.csv`` or ``.jsonl`` list names in ``column`` (found by name when None), each
    relative to the list's folder unless absolute, as a pool list's are (:func:`w2s.media.scan.scan_pool`)."""
    rows, columns = _read_list(path)
    hint = "--column NAME (Python: column=NAME)"
    if column is None:
        column = find_column(columns, "path", path, hint)
    elif column not in columns:
        raise LabelFileError(f"{path} has no column {column!r}; its columns are: {', '.join(map(repr, columns))}; "
                             f"pass {hint} naming one of them")
    out = []
    for where, row in rows:
        value = row.get(column)
        if value is None or not str(value).strip():
            raise LabelFileError(f"{path}, {where}: empty {column!r}; give the video or image file for every row")
        out.append(os.path.abspath(path.parent / os.path.expanduser(str(value).strip())))  # absolute stays
    return out


def _read_list(path: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """``(where, row)`` for each row of a .csv (header first) or .jsonl (an object a line), and the columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            if path.suffix.lower() == ".csv":
                reader = csv.DictReader(f, skipinitialspace=True)
                reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
                rows = [(f"line {reader.line_num}", row) for row in reader]
                return rows, reader.fieldnames
            rows = [(f"line {n}", json.loads(line)) for n, line in enumerate(f, start=1) if line.strip()]
    except (UnicodeDecodeError, csv.Error, json.JSONDecodeError) as e:
        raise LabelFileError(f"cannot read the list {path}: {e}") from None
    bad = next((where for where, row in rows if not isinstance(row, dict)), None)
    if bad:
        raise LabelFileError(f"{path}, {bad}: expected a JSON object like {{\"path\": \"a.mp4\"}}")
    return rows, list(dict.fromkeys(k for _, row in rows for k in row))
