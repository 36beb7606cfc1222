"""Turn a pool source (a folder, a CSV or a JSONL list) into entries and a manifest.

:func:`scan_pool` only lists files and gives each a stable id; it does not
open them. :func:`build_manifest` probes every entry and records failures
instead of stopping, so one bad file never sinks a scan of thousands.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from w2s.core.errors import MediaError, W2SError
from w2s.media.probe import IMAGE_EXTS, VIDEO_EXTS, is_image, probe

logger = logging.getLogger(__name__)

MEDIA_EXTS = VIDEO_EXTS | IMAGE_EXTS
MANIFEST_COLUMNS = ["id", "path", "kind", "fps", "frames", "width", "height", "duration", "status", "error"]

# '#' and '@' are reserved: a variant id is ``video_id#family@level``.
_UNSAFE = re.compile(r"[#@\s]")


@dataclass(frozen=True)
class PoolEntry:
    """One item of a pool: a stable id and an absolute path."""

    id: str
    path: str


def derive_id(relative: str | Path) -> str:
    """The id of a file from its relative path: no extension, '/' -> '__', '#', '@', spaces -> '_'."""
    parts = list(Path(relative).with_suffix("").parts)
    return _UNSAFE.sub("_", "__".join(parts))


def _relative_for_id(path: Path, base: Path) -> Path:
    """``path`` relative to ``base``; only the file name when it lies elsewhere."""
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


def _scan_folder(folder: Path) -> list[tuple[str | None, Path, Path]]:
    found = []
    for root, dirs, files in os.walk(folder):
        # Hidden folders (.git, .cache, half-written ``.name.part`` files) are not media.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in MEDIA_EXTS:
                continue
            path = Path(root) / name
            found.append((None, path, path.relative_to(folder)))
    found.sort(key=lambda item: item[2].as_posix())
    return found


def _list_item(raw_path, raw_id, base: Path, where: str) -> tuple[str | None, Path, Path]:
    if raw_path is None or not str(raw_path).strip():
        raise W2SError(f"{where}: empty 'path'; give the video or image file for every row")
    path = Path(os.path.expanduser(str(raw_path).strip()))
    if not path.is_absolute():
        path = base / path  # relative to the list file, not to the working directory
    path = Path(os.path.abspath(path))
    given = None if raw_id is None or str(raw_id).strip() == "" else str(raw_id).strip()
    if given is not None and "#" in given:
        raise W2SError(
            f"{where}: id {given!r} contains '#', which is reserved for distorted variants "
            "(video_id#family@level); rename it"
        )
    return given, path, _relative_for_id(path, Path(os.path.abspath(base)))


def _scan_csv(path: Path) -> list[tuple[str | None, Path, Path]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "path" not in columns:
            raise W2SError(
                f"{path}: no 'path' column (found {columns or 'no header'}); "
                "the first line must name the columns, e.g. 'id,path'"
            )
        reader.fieldnames = columns
        items = []
        for row in reader:
            items.append(
                _list_item(row.get("path"), row.get("id"), path.parent, f"{path}, line {reader.line_num}")
            )
    return items


def _scan_jsonl(path: Path) -> list[tuple[str | None, Path, Path]]:
    items = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise W2SError(
                    f"{where}: not valid JSON ({exc.msg}); each line must be one object like "
                    '{"path": "a.mp4"}'
                ) from exc
            if not isinstance(obj, dict):
                raise W2SError(f"{where}: expected a JSON object with key 'path', got {type(obj).__name__}")
            if "path" not in obj:
                raise W2SError(f"{where}: missing key 'path' (keys: {sorted(obj)})")
            items.append(_list_item(obj["path"], obj.get("id"), path.parent, where))
    return items


def _unique(ids: list[str]) -> list[str]:
    """Make ids unique by suffixing repeats with '~2', '~3', ... in order."""
    taken = set(ids)
    seen: dict[str, int] = {}
    out = []
    for item_id in ids:
        if item_id not in seen:
            seen[item_id] = 1
            out.append(item_id)
            continue
        n = seen[item_id]
        while True:
            n += 1
            candidate = f"{item_id}~{n}"
            if candidate not in taken:
                break
        seen[item_id] = n
        taken.add(candidate)
        logger.warning("duplicate id %r renamed to %r", item_id, candidate)
        out.append(candidate)
    return out


def scan_pool(source: str | Path) -> list[PoolEntry]:
    """List the videos and images of a pool, each with a stable id.

    ``source`` is a folder (searched recursively, by extension, hidden files
    skipped, sorted), a ``.csv`` with a ``path`` column (and optionally
    ``id``), or a ``.jsonl`` with one ``{"path": ..., "id": ...}`` per line.
    Relative paths in a list resolve against the list's folder. Listed files
    are not checked here: :func:`build_manifest` records the ones it cannot read.
    """
    source = Path(os.path.abspath(os.path.expanduser(str(source))))  # so every entry path is absolute
    if not source.exists():
        raise W2SError(f"pool source '{source}' does not exist; give a folder, a .csv or a .jsonl file")
    if source.is_dir():
        items = _scan_folder(source)
    elif source.suffix.lower() in (".csv", ".jsonl"):
        reader = _scan_csv if source.suffix.lower() == ".csv" else _scan_jsonl
        try:
            items = reader(source)
        except UnicodeDecodeError as exc:
            raise W2SError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
        except csv.Error as exc:
            raise W2SError(f"{source}: malformed CSV ({exc})") from exc
    else:
        raise W2SError(f"pool source '{source}': expected a folder, a .csv or a .jsonl file")
    if not items:
        what = (
            f"no videos or images (extensions {', '.join(sorted(MEDIA_EXTS))})"
            if source.is_dir()
            else "no rows"
        )
        raise W2SError(f"pool source '{source}' is empty: {what}")
    ids = _unique([given if given is not None else derive_id(rel) for given, _, rel in items])
    return [PoolEntry(item_id, str(path)) for item_id, (_, path, _) in zip(ids, items, strict=True)]


def _failed_row(entry: PoolEntry, reason: str) -> dict:
    kind = "image" if is_image(entry.path) else "video"
    return {
        "id": entry.id,
        "path": entry.path,
        "kind": kind,
        "fps": 0.0,
        "frames": 0,
        "width": 0,
        "height": 0,
        "duration": 0.0,
        "status": "failed",
        "error": reason,
    }


def build_manifest(entries: list[PoolEntry], progress: bool = True) -> pd.DataFrame:
    """Probe every entry: one row each with kind, fps, frames, size, duration and status.

    A file that cannot be read gets ``status='failed'`` and its reason in
    ``error`` (logged with -v) and the scan goes on; numbers are 0 there.
    """
    from w2s.core.progress import progress as with_progress

    rows = []
    for entry in with_progress(entries, "probe", "file", enabled=progress):
        try:
            info = probe(entry.path)
        except MediaError as exc:  # shown once, in the failures table at the end; -v logs it here
            logger.debug("skipping %s: %s", entry.id, exc)
            rows.append(_failed_row(entry, str(exc)))
            continue
        except Exception as exc:  # a bug or an odd file: record it, keep scanning
            logger.debug("skipping %s: unexpected %s: %s", entry.id, type(exc).__name__, exc, exc_info=True)
            rows.append(_failed_row(entry, f"unexpected {type(exc).__name__}: {exc}"))
            continue
        rows.append({"id": entry.id, "path": entry.path, **info.as_dict(), "status": "ok", "error": ""})
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return frame.astype(
        {"fps": "float64", "frames": "int64", "width": "int64", "height": "int64", "duration": "float64"}
    )
