"""Read a human-rated set from its label file and a video folder into a :class:`LabelledSet`.

A label file that cannot be read, or that lacks the named column, stops the
load with a :class:`LabelFileError` that names the file and the column, lists
the columns there are and says which option to pass. A bad *row* never does:
a missing video, a duplicate id or a MOS that is empty or not a number puts
that row in ``LabelledSet.failures`` with the reason, and the rest load.

How each file layout becomes a table of raw values: :mod:`w2s.labelled.formats`.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import string
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd

from w2s.core.errors import W2SError
from w2s.labelled.columns import find_column
from w2s.labelled.formats import (
    _XLSX_EXTS,
    LabelFileError,
    _failure,
    _missing_column,
    read_label_table,
)
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

# Options a caller may pass; every Preset field is one, plus these spellings.
_ALIASES = {"path_column": "id_column", "video_template": "video"}
_OPTIONS = sorted({f.name for f in fields(Preset)} | set(_ALIASES))
_CLI_HINT = "{option}=NAME (on the command line: --option {option}=NAME)"


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
    preset = _named_columns(preset, list(table.columns), label_path, options)
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


def _named_columns(preset: Preset, columns: list[str], path: Path, options: dict) -> Preset:
    """A generic file's path and MOS columns, found by their names where no option named them
    (:mod:`w2s.labelled.columns`); a ``dmos`` column is lower-is-better unless ``lower_better`` says."""
    found = {}
    if not preset.id_column and not preset.id_template:
        found["id_column"] = find_column(columns, "path", path, _CLI_HINT.format(option="path_column"))
    if not preset.mos_column:
        found["mos_column"] = find_column(columns, "mos", path, _CLI_HINT.format(option="mos_column"))
        if found["mos_column"].strip().lower() == "dmos" and "lower_better" not in options:
            found["lower_better"] = True
    if found:
        logger.info("%s: columns found by name: %s", path, ", ".join(f"{k}={v!r}" for k, v in found.items()))
    return replace(preset, **found)


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
