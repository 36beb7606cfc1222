"""``table:PATH`` — scores computed elsewhere, read from a .csv or .parquet table.

Use it for teachers that are run outside this project (DOVER, FAST-VQA,
Q-Align, ...): score the pool's videos with them, save one row per video, and
name the table here. The table has a *key* column (``id``, ``path``, ``file``
or ``name``) and a *score* column (``score`` unless ``column=`` says
otherwise).

Matching a clip to a row (``match="auto"`` tries these in order):

1. ``id``: the clip's video id (the part before ``#``, see
   :func:`w2s.core.clip.parse_item_id`) equals the table's ``id``;
2. ``path``: the clip's source file (``clip.meta["source"]``) equals the
   table's ``path``, or ends with it when it is relative
   (``videos/a.mp4`` matches ``/data/pool/videos/a.mp4``);
3. ``name``: the file-name stems are equal (``a`` == ``a.mp4``), using the
   ``file``, ``name`` or ``path`` column of the table.

``match="id" | "path" | "name"`` forces one rule.

Policy for what the table lacks: the item scores ``nan`` (the engine reads
NaN as "this teacher abstains"), is counted, and listed by
:meth:`TableTeacher.missing_report`; one warning is logged at the first miss
and :meth:`TableTeacher.close` logs the total. Distorted variants
(``video_id#family@level``) always score NaN: a table scores only the
originals. A key that matches two rows is a user error (:class:`W2SError`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path, PurePath

from teachers.base import TeacherBase
from w2s.core.clip import Clip, parse_item_id
from w2s.core.errors import W2SError
from w2s.core.registry import suggest

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet")
KEY_COLUMNS = ("id", "path", "file", "name")
MATCH_MODES = ("auto", "id", "path", "name")


def _columns(path: Path) -> list[str]:
    """Column names of the table, read without loading its rows."""
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        import pyarrow.parquet as pq

        return [str(c) for c in pq.read_schema(path).names]
    except Exception as exc:  # a corrupt or unreadable file is the user's to fix
        raise W2SError(f"table {path}: cannot read it ({exc.__class__.__name__}: {exc})") from None


def _parts(p: str) -> tuple[str, ...]:
    """Path components, without '.' entries, with either slash as separator."""
    return tuple(x for x in PurePath(p.replace("\\", "/")).parts if x not in ("", "."))


def _stem(p: str) -> str:
    return PurePath(p.replace("\\", "/")).stem


class TableTeacher(TeacherBase):
    """``table:PATH`` — scores computed elsewhere (CSV/parquet), matched by id, path or file name.

    See the module docstring for the matching rules; pool items the table lacks abstain (NaN).
    """

    def __init__(self, path: str, column: str = "score", lower_better: bool = False, match: str = "auto"):
        self.check(path)
        if match not in MATCH_MODES:
            raise W2SError(f"table {path}: unknown match {match!r}: {suggest(match, MATCH_MODES)}")
        self.path = Path(path)
        self.column = column
        self.lower_better = bool(lower_better)
        self.match = match
        self.name = f"table:{path}" if column == "score" else f"table:{path}[{column}]"

        import pandas as pd

        df = pd.read_csv(self.path) if self.path.suffix.lower() == ".csv" else pd.read_parquet(self.path)
        cols = [str(c) for c in df.columns]
        df.columns = cols
        if column not in cols:
            raise W2SError(
                f"table {self.path}: no score column {column!r} (columns: {', '.join(cols)}); "
                f"{suggest(column, cols)}"
            )
        try:
            scores = pd.to_numeric(df[column], errors="raise").astype(float).tolist()
        except (ValueError, TypeError):
            raise W2SError(f"table {self.path}: score column {column!r} holds values that are not numbers") from None

        def keys(col: str) -> list[str | None]:
            return [None if pd.isna(v) else str(v) for v in df[col]] if col in cols else []

        self._scores = scores
        # id -> rows, path parts -> rows, stem -> rows (lists, so duplicates can be reported)
        self._by_id: dict[str, list[int]] = {}
        for i, v in enumerate(keys("id")):
            if v is not None:
                self._by_id.setdefault(v, []).append(i)
        self._paths: list[tuple[tuple[str, ...], bool, int]] = []  # (parts, absolute, row)
        for i, v in enumerate(keys("path")):
            if v is not None:
                self._paths.append((_parts(v), PurePath(v.replace("\\", "/")).is_absolute(), i))
        self._by_stem: dict[str, list[int]] = {}
        name_cols = [c for c in ("file", "name", "path") if c in cols]
        for col in name_cols:
            for i, v in enumerate(keys(col)):
                if v is not None:
                    rows = self._by_stem.setdefault(_stem(v), [])
                    if i not in rows:
                        rows.append(i)
        needed = {"id": "id", "path": "path", "name": "file, name or path"}.get(match)
        if needed and not {"id": self._by_id, "path": self._paths, "name": self._by_stem}[match]:
            raise W2SError(f"table {self.path}: match={match!r} needs a {needed} column (columns: {', '.join(cols)})")
        self._missing: list[str] = []
        self._missing_seen: set[str] = set()
        self._warned = False
        self._closed = False

    @staticmethod
    def check(path: str) -> None:
        """The file exists, is .csv/.parquet, and has a key column (the score column is checked on build)."""
        p = Path(path)
        if p.suffix.lower() not in SUFFIXES:
            raise W2SError(f"table {p}: must be a .csv or .parquet file, got suffix {p.suffix or '(none)'!r}")
        if not p.is_file():
            raise W2SError(f"table {p}: no such file")
        cols = _columns(p)
        if not any(k in cols for k in KEY_COLUMNS):
            raise W2SError(
                f"table {p}: no key column (one of {', '.join(KEY_COLUMNS)}) (columns: {', '.join(cols) or 'none'})"
            )

    # -- matching ---------------------------------------------------------

    def _one(self, rows: list[int], what: str, key: str) -> int:
        if len(rows) > 1:
            raise W2SError(
                f"table {self.path}: {what} {key!r} matches {len(rows)} rows ({', '.join(str(r + 2) for r in rows)} "
                "counting the header as line 1); make the keys unique or use a more specific key column"
            )
        return rows[0]

    def _by_id_row(self, video_id: str) -> int | None:
        rows = self._by_id.get(video_id)
        return self._one(rows, "id", video_id) if rows else None

    def _by_path_row(self, source: str | None) -> int | None:
        if not source or not self._paths:
            return None
        src = _parts(str(Path(source).resolve()))
        raw = _parts(source)
        hits = []
        for parts, absolute, row in self._paths:
            if not parts:
                continue
            if absolute:
                if parts in (src, raw):
                    hits.append((len(parts), row))
            elif src[-len(parts):] == parts or raw[-len(parts):] == parts:
                hits.append((len(parts), row))
        if not hits:
            return None
        best = max(n for n, _ in hits)  # the most specific path wins
        return self._one([r for n, r in hits if n == best], "path", source)

    def _by_name_row(self, stem: str) -> int | None:
        rows = self._by_stem.get(stem)
        return self._one(rows, "file stem", stem) if rows else None

    def row_for(self, clip: Clip) -> int | None:
        """The table row of a clean clip, or None when the table lacks it."""
        video_id, _, _ = parse_item_id(clip.id)
        source = clip.meta.get("source")
        source = str(source) if source else None
        stem = _stem(source) if source else video_id
        steps = {
            "id": lambda: self._by_id_row(video_id),
            "path": lambda: self._by_path_row(source),
            "name": lambda: self._by_name_row(stem),
        }
        order = ("id", "path", "name") if self.match == "auto" else (self.match,)
        for mode in order:
            row = steps[mode]()
            if row is not None:
                return row
        return None

    # -- scoring ----------------------------------------------------------

    def score(self, clip: Clip) -> float:
        if "#" in clip.id:  # a distorted variant: the table scores only originals
            return float("nan")
        row = self.row_for(clip)
        if row is None:
            self._note_missing(clip.id)
            return float("nan")
        value = self._scores[row]
        if math.isnan(value):
            return value
        return -value if self.lower_better else value

    def _note_missing(self, clip_id: str) -> None:
        if clip_id in self._missing_seen:
            return
        self._missing_seen.add(clip_id)
        self._missing.append(clip_id)
        if not self._warned:
            self._warned = True
            log.warning(
                "%s: no row for %r (match=%s); items the table lacks score NaN (the teacher abstains); "
                "missing_report() lists them",
                self.name,
                clip_id,
                self.match,
            )

    def missing_report(self) -> list[str]:
        """Ids of the clean clips this table had no row for, in the order they were met."""
        return list(self._missing)

    def close(self) -> None:
        """Log, once, how many items the table lacked."""
        if self._missing and not self._closed:
            log.warning("%s: %d item(s) had no row and were scored NaN", self.name, len(self._missing))
        self._closed = True
