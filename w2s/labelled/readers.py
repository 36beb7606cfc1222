"""Read a human-rated set from its label file and a video folder into a :class:`LabelledSet`.

A label file that cannot be read, or that lacks the named column, stops the
load with a :class:`LabelFileError` that names the file and the column, lists
the columns there are and says which option to pass. A bad *row* never does:
a missing video, a duplicate id or a MOS that is empty or not a number puts
that row in ``LabelledSet.failures`` with the reason, and the rest load.

CSV, TSV, JSON and JSONL are read through ``datasets.load_dataset`` (a first
call costs about 0.2 s here, later ones a few ms); the transposed ``wide``
layout, DOVER's ``labels.txt``, MATLAB and XLSX files are read directly.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
import os
import string
import tempfile
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd

from w2s.errors import W2SError
from w2s.labelled.presets import (
    FORMATS,
    Preset,
    closest_presets,
    find_preset,
    preset_names,
)
from w2s.labelled.set import FAILURE_COLUMNS, LabelledSet

logger = logging.getLogger(__name__)

# Media a label row may point at; raw .yuv is here too (LIVE-Qualcomm ships it).
VIDEO_EXTS = frozenset(
    {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".y4m", ".yuv", ".3gp"}
)
_TABLE_EXTS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": ","}
_JSON_EXTS = {".json", ".jsonl", ".ndjson"}
_XLSX_EXTS = {".xlsx", ".xlsm", ".xls"}

# Options a caller may pass; every Preset field is one, plus these spellings.
_ALIASES = {"path_column": "id_column", "video_template": "video"}
_OPTIONS = sorted({f.name for f in fields(Preset)} | set(_ALIASES))


class LabelFileError(W2SError):
    """A label file is missing, unreadable, or lacks a column it was asked for."""


def load_labelled_set(spec: str | Path, root: str | Path, **options) -> LabelledSet:
    """Load a human-rated set: ``spec`` is a preset name (``konvid1k``, ...) or a label file's path.

    ``root`` is the folder that holds the videos (and, for a preset, usually
    the label file). Options override the preset's fields, or describe a
    generic file: ``path_column`` (or ``id_column``), ``mos_column``,
    ``lower_better``, ``sep``, ``extension``, ``name``, ``label_file``,
    ``video_template``, ``mos_range``, ``format``, ``decimal``, ``sheet``,
    ``columns``, ``id_template``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise W2SError(f"video folder not found: {root} (pass the folder that holds the set's videos as root)")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise W2SError(f"unknown option(s) {', '.join(unknown)} for load_labelled_set; known: {', '.join(_OPTIONS)}")

    preset, label_path = _resolve(str(spec), root, options)
    table, where, early_failures = read_label_table(label_path, preset)
    labelled = _assemble(table, where, preset, root, label_path, early_failures)
    _log_summary(labelled, label_path)
    return labelled


# --- which file, which layout --------------------------------------------------------------


def _resolve(spec: str, root: Path, options: dict) -> tuple[Preset, Path]:
    """The preset (with the options applied) and the label file it reads."""
    opts = {_ALIASES.get(k, k): v for k, v in options.items()}
    label_override = opts.pop("label_file", None)
    if isinstance(opts.get("video"), str):
        opts["video"] = (opts["video"],)
    if "mos_range" in opts and opts["mos_range"] is not None:
        opts["mos_range"] = tuple(float(x) for x in opts["mos_range"])
    if "columns" in opts and opts["columns"] is not None:
        opts["columns"] = tuple(opts["columns"])
    # A new id column means the old templates (built on the old columns) no longer apply.
    if ("id_column" in opts or "id_template" in opts) and "video" not in opts:
        opts["video"] = ("{id}",)
    if "id_column" in opts and "id_template" not in opts:
        opts["id_template"] = None

    preset = find_preset(spec)
    if preset is not None:
        preset = replace(preset, **opts)
        label_path = _find_label_file(preset, root, label_override)
    else:
        label_path = _generic_label_path(spec, root, label_override)
        generic = Preset(
            name=label_path.stem,
            label_file=(str(label_path),),
            format=_format_from_suffix(label_path),
            id_column="",
            mos_column="",
            mos_range=None,
        )
        preset = replace(generic, **opts)
        if preset.format == "labels.txt" and not preset.id_column:  # its columns are fixed: path, duration, fps, MOS
            preset = replace(preset, id_column="path", mos_column=preset.mos_column or "mos")
    if preset.format not in FORMATS:
        raise W2SError(f"unknown format {preset.format!r} for {label_path}; one of: {', '.join(FORMATS)}")
    return preset, label_path


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "mat"
    if suffix == ".txt":
        return "labels.txt"  # the DOVER / FAST-VQA layout; pass format="table" for a plain text table
    return "table"


def _generic_label_path(spec: str, root: Path, override: str | None) -> Path:
    candidate = Path(override or spec).expanduser()
    for path in (candidate, root / candidate):
        if path.is_file():
            return path
    looks_like_path = bool(candidate.suffix) or "/" in spec or os.sep in spec or override is not None
    if looks_like_path:
        raise LabelFileError(
            f"label file not found: {candidate} (looked as given and under {root}); "
            "pass an existing file, or a preset name"
        )
    near = closest_presets(spec)
    hint = f"closest: {', '.join(near)}; " if near else ""
    raise W2SError(f"unknown preset {spec!r} ({hint}presets: {', '.join(preset_names())}), and no file of that name")


def _find_label_file(preset: Preset, root: Path, override: str | None) -> Path:
    """The preset's label file: as given, under the root or its parent, or by name two levels down."""
    if override is not None:
        path = Path(override).expanduser()
        for candidate in (path, root / path):
            if candidate.is_file():
                return candidate
        raise LabelFileError(f"label file not found: {path} (looked as given and under {root})")

    found = []
    for name in preset.label_file:
        for base in (root, root.parent):
            if (base / name).is_file():
                found.append(base / name)
                break
        else:
            found.extend(_shallow_find(root, Path(name).name, depth=2))
    for path in dict.fromkeys(found):
        if path.suffix.lower() in _XLSX_EXTS and importlib.util.find_spec("openpyxl") is None:
            continue  # a CSV export further down the list can be read instead
        return path
    xlsx = [p for p in found if p.suffix.lower() in _XLSX_EXTS]
    if xlsx:
        csv_name = xlsx[0].with_suffix(".csv").name
        raise LabelFileError(
            f"{xlsx[0]} is an XLSX file and openpyxl (which pandas needs to read it) is not installed: "
            f"export sheet {preset.sheet!r} to CSV with the same columns as {xlsx[0].parent / csv_name}, "
            "or pass label_file= pointing at the CSV"
        )
    raise LabelFileError(
        f"label file of preset {preset.name!r} not found: looked for {', '.join(preset.label_file)} in {root}, "
        f"{root.parent} and two levels under {root}; pass label_file= with its path"
    )


def _shallow_find(base: Path, name: str, depth: int) -> list[Path]:
    hits = []
    for folder, dirs, files in os.walk(base):
        level = len(Path(folder).relative_to(base).parts)
        dirs[:] = [] if level >= depth else sorted(d for d in dirs if not d.startswith("."))
        if name in files:
            hits.append(Path(folder) / name)
    return sorted(hits)


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


def _missing_column(path: Path, option: str, column: str, available: list[str]) -> LabelFileError:
    if not column:
        what = f"{path} is read as a generic {('MATLAB file' if path.suffix == '.mat' else 'table')}: pass {option}="
        return LabelFileError(f"{what} naming one of its columns: {', '.join(map(repr, available))}")
    return LabelFileError(
        f"{path} has no column {column!r} (asked for as {option}); its columns are: "
        f"{', '.join(map(repr, available))}; pass {option}= naming one of them"
    )


def _template_fields(template: str) -> set[str]:
    """The column names a ``str.format`` template reads ('{File_name[5]}' reads File_name)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None and field != "":
            names.add(field.split("[", 1)[0].split(".", 1)[0])
    return names


def _check_columns(table: pd.DataFrame, preset: Preset, path: Path) -> None:
    available = list(table.columns)
    if preset.id_template:
        for col in sorted(_template_fields(preset.id_template) - set(available)):
            raise _missing_column(path, "id_template", col, available)
    elif preset.id_column not in available:
        raise _missing_column(path, "id_column" if preset.id_column else "path_column", preset.id_column, available)
    if preset.mos_column not in available:
        raise _missing_column(path, "mos_column", preset.mos_column, available)
    for template in preset.video:
        missing = _template_fields(template) - set(available) - {"id"}
        if missing:
            raise LabelFileError(
                f"video_template {template!r} names column(s) {', '.join(sorted(missing))} that {path} lacks; "
                f"its columns are: {', '.join(map(repr, available))}"
            )


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id read as a number (JSON 7, MATLAB 7.0) names file '7'
    return str(value).strip()


def _parse_mos(value, decimal: str) -> tuple[float | None, str | None]:
    """The score as a float, or the reason it is not one."""
    if isinstance(value, bool):
        return None, f"MOS {value!r} is not a number"
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        number = float(value)
    else:
        text = _text(value)
        if not text:
            return None, "MOS is empty"
        try:
            number = float(text.replace(decimal, ".") if decimal != "." else text)
        except ValueError:
            return None, f"MOS {text!r} is not a number"
    if not math.isfinite(number):
        return None, f"MOS {value!r} is not a finite number"
    return number, None


def _failure(id_: str, path: str, reason: str) -> dict:
    return {"id": id_, "path": path, "reason": reason}


def _assemble(
    table: pd.DataFrame, where: list[str], preset: Preset, root: Path, path: Path, failures: list[dict]
) -> LabelledSet:
    _check_columns(table, preset, path)
    finder = VideoFinder(root)
    videos, first_row = [], {}
    failures = list(failures)
    for label, row in zip(where, table.to_dict("records")):
        values = {k: _text(v) for k, v in row.items()}
        if not any(values.values()):
            continue  # a blank line (CVD2014 ends with empty ';;;' rows)
        try:
            id_ = preset.id_template.format(**values) if preset.id_template else values[preset.id_column]
        except (IndexError, KeyError, ValueError) as err:
            failures.append(_failure("", "", f"{label}: cannot build the id from {preset.id_template!r}: {err}"))
            continue
        if not id_:
            failures.append(_failure("", "", f"{label}: the id column {preset.id_column!r} is empty"))
            continue
        where_id = f"{label} (id {id_!r})"
        mos, problem = _parse_mos(row[preset.mos_column], preset.decimal)
        if problem:
            failures.append(_failure(id_, "", f"{where_id}: {problem}"))
            continue
        if id_ in first_row:
            failures.append(_failure(id_, "", f"{where_id}: duplicate id, first given in {first_row[id_]}"))
            continue
        first_row[id_] = label
        try:
            names = [_with_extension(t.format(**{**values, "id": id_}), preset.extension) for t in preset.video]
        except (IndexError, KeyError, ValueError) as err:
            failures.append(_failure(id_, "", f"{where_id}: cannot build the video path from {preset.video}: {err}"))
            continue
        video, problem = finder.find(names)
        if problem:
            failures.append(_failure(id_, str(root / names[0]), f"{where_id}: {problem}"))
            continue
        videos.append({"id": id_, "path": str(video), "mos": mos})

    frame = pd.DataFrame(videos, columns=["id", "path", "mos"]).astype({"id": str, "path": str, "mos": "float64"})
    failed = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return LabelledSet(
        name=preset.name,
        videos=frame,
        lower_better=bool(preset.lower_better),
        mos_range=preset.mos_range,
        failures=failed,
        root=root,
        score_name="DMOS" if preset.lower_better else "MOS",
    )


def _with_extension(name: str, extension: str | None) -> str:
    if extension and Path(name).suffix.lower() not in VIDEO_EXTS:
        return name + (extension if extension.startswith(".") else "." + extension)
    return name


class VideoFinder:
    """Finds a label row's video under a root: at the templated path, else by file name anywhere below.

    The name index is built once, on the first row whose templated path does
    not exist, so a set laid out as its templates expect costs one stat per row.
    """

    def __init__(self, root: Path):
        self.root = root
        self._by_name: dict[str, list[Path]] | None = None
        self._by_stem: dict[str, list[Path]] = {}

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = {}
            for folder, dirs, files in os.walk(self.root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    path = Path(folder) / name
                    self._by_name.setdefault(name, []).append(path)
                    if path.suffix.lower() in VIDEO_EXTS:
                        self._by_stem.setdefault(path.stem, []).append(path)
        return self._by_name

    def find(self, names: list[str]) -> tuple[Path | None, str | None]:
        for name in names:
            candidate = self.root / name
            if candidate.is_file():
                return candidate, None
        by_name = self._index()
        for name in names:
            base = Path(name).name
            # A name without a video extension (LIVE-YT-HFR, Waterloo) matches any video of that stem.
            hits = by_name.get(base, []) if Path(base).suffix.lower() in VIDEO_EXTS else self._by_stem.get(base, [])
            if len(hits) == 1:
                return hits[0], None
            if len(hits) > 1:
                shown = ", ".join(str(h.relative_to(self.root)) for h in sorted(hits)[:3])
                return (
                    None,
                    f"{len(hits)} files named {base!r} under {self.root} ({shown}); pass video_template= to pick one",
                )
        tried = " or ".join(repr(n) for n in names)
        return None, f"video file not found: {tried} under {self.root} (nor a file of that name below it)"


def _log_summary(labelled: LabelledSet, path: Path) -> None:
    logger.info("%s: %d videos with scores from %s", labelled.name, len(labelled), path)
    if len(labelled.failures):
        shown = "; ".join(labelled.failures["reason"].head(3))
        logger.warning(
            "%s: %d label rows left out (LabelledSet.failures has them all), e.g. %s",
            labelled.name,
            len(labelled.failures),
            shown,
        )
