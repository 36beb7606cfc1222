"""Reading a label file into a table of raw values, whatever its layout.

CSV, TSV, JSON and JSONL go through ``datasets.load_dataset`` (a first call
costs about 0.2 s here, later ones a few ms); the transposed ``wide`` layout,
DOVER's ``labels.txt``, MATLAB and XLSX files are read directly. A file that
cannot be read stops with a :class:`LabelFileError` naming it; rows are judged
later, by :mod:`w2s.labelled.readers`.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import pandas as pd

from w2s.core.errors import W2SError
from w2s.labelled.presets import Preset

logger = logging.getLogger(__name__)

_TABLE_EXTS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": ","}
_JSON_EXTS = {".json", ".jsonl", ".ndjson"}
_XLSX_EXTS = {".xlsx", ".xlsm", ".xls"}


class LabelFileError(W2SError):
    """A label file is missing, unreadable, or lacks a column it was asked for."""


def _missing_column(path: Path, option: str, column: str, available: list[str]) -> LabelFileError:
    if not column:
        what = f"{path} is read as a generic {('MATLAB file' if path.suffix == '.mat' else 'table')}: pass {option}="
        return LabelFileError(f"{what} naming one of its columns: {', '.join(map(repr, available))}")
    return LabelFileError(
        f"{path} has no column {column!r} (asked for as {option}); its columns are: "
        f"{', '.join(map(repr, available))}; pass {option}= naming one of them"
    )


def _failure(id_: str, path: str, reason: str) -> dict:
    return {"id": id_, "path": path, "reason": reason}


# --- reading a file into a table of raw values -----------------------------------------------


def read_label_table(path: Path, preset: Preset) -> tuple[pd.DataFrame, list[str], list[dict]]:
    """The label file as a table of raw values, one label per row.

    Returns the table, a label per row for messages ("row 3", "line 7") and
    failure rows found while reading (only ``labels.txt`` has lines that
    cannot be split into fields).
    """
    try:
        if preset.format == "labels.txt":
            return _read_labels_txt(path)
        if preset.format == "mat":
            table = _read_mat(path, preset)
        elif preset.format == "wide":
            table = _read_wide(path, preset)
        elif path.suffix.lower() in _XLSX_EXTS:
            table = _read_xlsx(path, preset)
        elif path.suffix.lower() in _JSON_EXTS:
            table = _read_with_datasets("json", path)
        else:
            table = _read_delimited(path, preset)
    except LabelFileError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as err:
        raise LabelFileError(f"cannot read label file {path} as {preset.format}: {err}") from err
    table.columns = [str(c).strip() for c in table.columns]
    if preset.format == "wide":  # a video is a column there; the first column holds the field names
        return table, [f"column {i}" for i in range(2, len(table) + 2)], []
    return table, [f"row {i}" for i in range(1, len(table) + 1)], []


def _read_with_datasets(builder: str, path: Path, **config) -> pd.DataFrame:
    """Load one local file through ``datasets`` into pandas, never touching the network.

    Each call builds in a throw-away cache folder: the files are small, and a
    shared cache would keep stale copies of label files edited in place.
    """
    datasets = _datasets()
    bars_were_off = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a bar per small label file is noise
    try:
        with tempfile.TemporaryDirectory(prefix="w2s-labels-") as cache:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache, **config)
            return ds.to_pandas()
    except datasets.exceptions.DatasetGenerationError as err:
        raise LabelFileError(f"cannot read label file {path}: {err.__cause__ or err}") from err
    finally:
        if not bars_were_off:
            datasets.enable_progress_bars()


def _datasets():
    """The ``datasets`` module, imported offline: it reads HF_DATASETS_OFFLINE once, at import."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    return datasets


def _separator(path: Path, preset: Preset) -> str:
    return preset.sep or _TABLE_EXTS.get(path.suffix.lower(), ",")


def _read_delimited(path: Path, preset: Preset) -> pd.DataFrame:
    """CSV / TSV (with or without a header), every cell kept as text so '007' stays '007'."""
    datasets = _datasets()

    sep = _separator(path, preset)
    if preset.format == "noheader":
        if not preset.columns:
            raise LabelFileError(f"{path} has no header row: pass columns=(...) naming its columns")
        names, header = list(preset.columns), None
    else:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f, delimiter=sep, skipinitialspace=True), None)
        if not first:
            raise LabelFileError(f"label file {path} is empty (no header row)")
        names, header = _unique([c.strip() or f"Unnamed: {i}" for i, c in enumerate(first)]), 0
    features = datasets.Features({n: datasets.Value("string") for n in names})
    return _read_with_datasets(
        "csv",
        path,
        sep=sep,
        header=header,
        names=names,
        features=features,
        skipinitialspace=True,
        keep_default_na=False,
        na_filter=False,  # an empty MOS stays '' and is reported as empty, not as NaN
        encoding="utf-8-sig",  # some releases (LSVQ) start with a byte-order mark
    )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
    return out


def _read_wide(path: Path, preset: Preset) -> pd.DataFrame:
    """A transposed table: each row is one field (its name first), each column one video."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f, delimiter=_separator(path, preset)) if any(c.strip() for c in r)]
    if not rows:
        raise LabelFileError(f"label file {path} is empty")
    width = max(len(r) for r in rows) - 1
    data = {r[0].strip(): [c.strip() for c in r[1:]] + [""] * (width - len(r) + 1) for r in rows}
    return pd.DataFrame(data)


def _read_xlsx(path: Path, preset: Preset) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise LabelFileError(
            f"{path} is an XLSX file and openpyxl (which pandas needs to read it) is not installed: "
            "export the sheet to CSV with the same columns and pass that file instead"
        )
    sheet = 0 if preset.sheet is None else preset.sheet
    return pd.read_excel(path, sheet_name=sheet, dtype=object, keep_default_na=False)


def _read_labels_txt(path: Path) -> tuple[pd.DataFrame, list[str], list[dict]]:
    """DOVER / FAST-VQA ``labels.txt``: no header, one ``path, duration, fps, MOS`` line per video.

    Their readers split each line on ',' and keep fields 1 and 4 (duration and
    fps may be -1); a line with another count of fields is a failure row here.
    """
    rows, where, failures = [], [], []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.rstrip("\r\n").split(",")]
            if len(parts) != 4:
                failures.append(
                    _failure(
                        parts[0],
                        "",
                        f"line {number}: expected 4 comma-separated fields 'path, duration, fps, MOS', "
                        f"found {len(parts)}",
                    )
                )
                continue
            rows.append(dict(zip(("path", "duration", "fps", "mos"), parts)))
            where.append(f"line {number}")
    return pd.DataFrame(rows, columns=["path", "duration", "fps", "mos"]), where, failures


def _read_mat(path: Path, preset: Preset) -> pd.DataFrame:
    """The id and MOS arrays of a MATLAB file; dotted names reach into structs."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except NotImplementedError as err:  # scipy's answer to a v7.3 (HDF5) file
        raise LabelFileError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read: re-save it with "
            "save(name, '-v7') or export the ids and scores to a CSV"
        ) from err
    except Exception as err:  # scipy raises a zoo of types on a damaged file
        raise LabelFileError(f"cannot read label file {path} as MATLAB: {err}") from err
    available = _mat_names(mat)
    arrays = {}
    for option, key in (("id_column", preset.id_column), ("mos_column", preset.mos_column)):
        value = _mat_get(mat, key) if key else None
        if value is None:
            raise _missing_column(path, option, key, available)
        arrays[key] = [_mat_cell(v) for v in _as_list(value)]
    ids, mos = arrays[preset.id_column], arrays[preset.mos_column]
    if len(ids) != len(mos):
        raise LabelFileError(
            f"{path}: {preset.id_column!r} has {len(ids)} entries but {preset.mos_column!r} has {len(mos)}"
        )
    return pd.DataFrame({preset.id_column: ids, preset.mos_column: mos})


def _mat_names(mat: dict) -> list[str]:
    names = []
    for key, value in mat.items():
        if key.startswith("__"):
            continue
        names.append(key)
        names.extend(f"{key}.{f}" for f in getattr(value, "_fieldnames", []) or [])
    return names


def _mat_get(mat: dict, dotted: str):
    head, *rest = dotted.split(".")
    value = mat.get(head)
    for part in rest:
        if value is None or part not in (getattr(value, "_fieldnames", None) or []):
            return None
        value = getattr(value, part)
    return value


def _as_list(value) -> list:
    import numpy as np

    array = np.asarray(value, dtype=object) if not isinstance(value, str) else np.asarray([value], dtype=object)
    return list(array.ravel()) if array.ndim else [array.item()]


def _mat_cell(value):
    """A cell of a MATLAB array as a plain Python value ('' for an empty cell)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return _mat_cell(value.item()) if value.size == 1 else ("" if value.size == 0 else str(value.tolist()))
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- rows into a LabelledSet -------------------------------------------------------------------
