"""Score files or folders with a saved student or any teacher.

``w2s score --out`` is checked before any work (:func:`check_out`), each row is
saved as it is scored (``OUT.partial.jsonl``, :class:`ResumeFile`), so neither
a kill nor a failed final write loses a score, and a rerun with the same
``--out`` scores only what is not in it yet.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from w2s.api import load, scale_100
from w2s.core import io
from w2s.core.errors import W2SError

__all__ = ["scale_100", "score_paths"]  # scale_100 lives in w2s.api (the Scorer applies it); here for `w2s score`'s callers

log = logging.getLogger(__name__)


def _entries(inputs: list[str], column: str | None = None) -> tuple[list[str], list[dict]]:
    """Files to score, and failed rows for the folders that hold none.

    Folders and .csv/.jsonl lists expand (a list's files are in ``column``, or
    the one column named like paths: :func:`w2s.labelled.columns.listed_paths`);
    a missing file stays, to fail in its row. One empty folder among other
    inputs is a failed row, not the end of the command; nothing at all to score is an error.
    """
    from w2s.labelled.columns import listed_paths
    from w2s.media.scan import scan_pool

    lists = [raw for raw in inputs if Path(raw).is_file() and Path(raw).suffix.lower() in (".csv", ".jsonl")]
    if column is not None and not lists:
        raise W2SError(f"--column {column} names the path column of a .csv/.jsonl list, and no input is one")
    out, empty = [], []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir() and len(inputs) > 1:
            try:
                out += [e.path for e in scan_pool(path)]
            except W2SError as e:  # a folder fails only for having nothing in it
                empty.append({"path": str(path), "score": np.nan, "status": "failed", "error": str(e)})
        elif raw in lists:
            out += listed_paths(path, column)
        elif path.is_dir() or path.suffix.lower() in (".csv", ".jsonl"):
            out += [e.path for e in scan_pool(path)]
        else:
            out.append(str(path))
    if not out:
        raise W2SError(f"nothing to score in {', '.join(inputs)}: no videos or images; give files, folders of them, "
                       "or a .csv/.jsonl list")
    return out, empty


def score_paths(model: str, inputs: list[str], sampler_spec: dict | None = None, max_side: int | None = None,
                device: str = "auto", column: str | None = None, out: str | Path | None = None) -> pd.DataFrame:
    """One row per input: path, score (raw, higher is better), score_100, status, error (:meth:`w2s.api.Scorer.score_files`),
    scored on ``device`` (:func:`w2s.core.device.resolve_device`); ``column``: the path column of .csv/.jsonl lists.
    With ``out`` (the table's file, not written here: :func:`write_scores`), each row is saved as it is
    done, and the files an earlier run with the same ``out`` scored are not scored again."""
    paths, empty = _entries(inputs, column)
    scorer = load(model, device=device, sampler=sampler_spec, max_side=max_side)
    df = scorer.score_files(paths) if out is None else _resumed(scorer, model, paths, Path(out))
    return pd.concat([df, pd.DataFrame(empty, columns=df.columns)], ignore_index=True) if empty else df


# --- the output file, and resuming ---------------------------------------------------------------

OUT_FORMATS = (".csv", ".parquet")


def partial_path(out: str | Path) -> Path:
    """Where ``w2s score --out OUT`` saves each row as it is scored: ``OUT.partial.jsonl``."""
    out = Path(out)
    return out.with_name(f"{out.name}.partial.jsonl")


def check_out(out: str | Path) -> Path:
    """``--out``, checked before anything is scored: a .csv or .parquet file in a folder that exists
    and can be written."""
    path = Path(out)
    if path.is_dir():
        raise W2SError(f"--out {out} is a folder; name a file in it, e.g. --out {path / 'scores.csv'}")
    if path.suffix.lower() not in OUT_FORMATS:
        found = f"a '{path.suffix}' file" if path.suffix else "no extension"
        raise W2SError(f"--out {out}: {found}, which w2s score cannot write; end it in .csv or .parquet")
    folder = path.parent
    if not folder.is_dir():
        raise W2SError(f"--out {out}: the folder {folder} does not exist; create it, or name a file in one that does")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise W2SError(f"--out {out}: cannot write in {folder} (permission denied); name a file in another folder")
    return path


def write_scores(df: pd.DataFrame, out: str | Path) -> None:
    """The table to ``out``, as its extension says (CSV or Parquet), whole or not at all. A failure
    says where the scores are kept meanwhile (:func:`partial_path`); a rerun writes them without scoring."""
    out = Path(out)
    try:
        if out.suffix.lower() == ".parquet":
            io.write_parquet(df, out)
        else:
            io.write_text(df.to_csv(index=False), out)
    except Exception as e:  # noqa: BLE001 - whatever stopped the write, the scores are safe: say where
        raise W2SError(f"cannot write {out} ({type(e).__name__}: {e}); the scores are kept in {partial_path(out)}: "
                       "fix that and rerun the same command (nothing is scored again)") from None


def _stamp(path: str) -> list[int] | None:
    """A file's size and modification time: a saved score is reused only for the file it was made of."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


class ResumeFile:
    """``OUT.partial.jsonl``: a settings line (model, frame sampling), then one row per file, appended and
    flushed as each is scored. A line cut short by a kill is dropped on reading."""

    def __init__(self, path: Path, settings: dict):
        self.path, self.settings = path, settings

    def read(self) -> dict[str, dict]:
        """The rows scored ``ok`` earlier, by path; a file of other settings is refused, one without
        its settings line (killed as it began) is started afresh."""
        if not self.path.is_file():
            return {}
        lines = self.path.read_text().splitlines()
        try:
            saved = json.loads(lines[0])["settings"]
        except (IndexError, ValueError, KeyError, TypeError):
            return {}
        if saved != self.settings:
            differ = "; ".join(f"{k} {saved.get(k)}, not {v}" for k, v in self.settings.items() if saved.get(k) != v)
            raise W2SError(f"{self.path} holds scores made with other settings ({differ}): use another --out, "
                           f"or delete {self.path} to score afresh")
        done = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("status") == "ok":
                done[row["path"]] = row
        return done

    def open(self, kept: dict[str, dict]):
        """The file rewritten with ``kept`` (without broken and failed lines, so an append never runs
        on from a line a kill cut short), open to append."""
        lines = [json.dumps({"settings": self.settings})] + [json.dumps(r) for r in kept.values()]
        io.write_text("\n".join(lines) + "\n", self.path)
        return self.path.open("a")


def _resumed(scorer, model: str, paths: list[str], out: Path) -> pd.DataFrame:
    """:meth:`~w2s.api.Scorer.score_files` on the ``paths`` not scored yet for ``out``, each row saved
    as it comes; the rows of the others from the resume file. In ``paths``' order."""
    resume = ResumeFile(partial_path(out), {"model": model, "sampler": scorer.sampler.spec(),
                                            "max_side": scorer.max_side})
    saved = resume.read()
    stamps = {p: _stamp(p) for p in paths}
    reused = {p: saved[p] for p in paths if p in saved and saved[p].get("stamp") == stamps[p]}
    todo = [p for p in paths if p not in reused]
    if reused:
        log.info("reused %d score(s) from %s (an earlier run with this --out); scoring the other %d",
                 len(reused), resume.path, len(todo))

    with resume.open(saved) as f:  # every saved row stays: a later run may name those files again
        def save(row: dict) -> None:
            score = row["score"] if np.isfinite(row["score"]) else None  # JSON has no NaN
            f.write(json.dumps({**row, "score": score, "stamp": stamps.get(row["path"])}) + "\n")
            f.flush()  # the line survives a kill of this process

        new = scorer.score_files(todo, on_row=save) if todo else pd.DataFrame(columns=["path", "score"])
    rows = {**reused, **{r["path"]: r for r in new.to_dict("records")}}
    df = pd.DataFrame([rows[p] for p in paths]).reindex(columns=["path", "score", "status", "error"])
    df["score"] = df["score"].astype(np.float64)
    df.insert(2, "score_100", scale_100(df.score.to_numpy(), scorer.quantiles))
    return df
