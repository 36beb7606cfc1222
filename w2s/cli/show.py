"""What the commands show on the terminal: rich tables of results, metrics and failures.

On a terminal rich fits a table to the window (a long path folds onto a
second line, never an ellipsis); written to a file or a pipe, nothing is cut:
every line is as long as it needs, so a log keeps whole paths.
"""

from __future__ import annotations

import math
import os
import sys

FAILURE_ROWS = 20  # a failures table shows this many; the rest are in the file it names
WIDE = 10_000  # the width of output that is not a terminal: no line is folded or cut


def console():
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=WIDE, soft_wrap=True)


def show_table(k: int, table, title: str | None = None) -> None:
    """The round's results as a rich table on the terminal."""
    from rich.table import Table

    t = Table(title=title or f"round {k}: held-out content (SRCC of severity order; VMAF vs clean clip)")
    for col in table.columns:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for _, row in table.iterrows():
        t.add_row(*[v if isinstance(v, str) else ("-" if math.isnan(v) else f"{v:.3f}") for v in row.tolist()])
    console().print(t)


def reason(path, message) -> str:
    """``message`` without the path the table already shows: a leading ``PATH: `` goes, and a quoted
    ``'PATH'`` inside it (``cannot read video 'PATH': ...``) is dropped.

    >>> reason("clips/missing.mp4", "clips/missing.mp4: no such file")
    'no such file'
    >>> reason("a.mp4", f"cannot read video '{os.path.abspath('a.mp4')}': file is empty")
    'cannot read video: file is empty'
    """
    text = str(message)
    spellings = {str(path), os.path.normpath(str(path)), os.path.abspath(str(path))}
    for spelling in sorted(spellings, key=len, reverse=True):  # the longest first: one may start another
        if text.startswith(f"{spelling}: "):
            text = text[len(spelling) + 2:]
        text = text.replace(f" '{spelling}'", "")
    return text


def show_failures(df, path_column: str, reason_column: str, where, limit: int = FAILURE_ROWS) -> int:
    """The files that could not be used, each once with its reason, on the terminal (the first ``limit``;
    a last line counts the rest, which are in ``where``); 1 if any, else 0."""
    if not len(df):
        return 0
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    # Text and escape: a '[' in a path or a reason is text, not rich markup
    t = Table(title=escape(f"{len(df)} file(s) could not be used (also in {where})"), title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("file", overflow="fold")
    t.add_column("why it was left out", overflow="fold")
    for path, why in zip(list(df[path_column])[:limit], list(df[reason_column])[:limit]):
        t.add_row(Text(str(path)), Text(reason(path, why)))
    out = console()
    out.print(t)
    if len(df) > limit:
        out.print(f"{len(df) - limit} more in {where}", markup=False, highlight=False)
    return 1


def metrics_table(rows: list[dict], title: str):
    from rich.table import Table

    t = Table("model", "set", "SRCC [95% CI]", "KRCC", "PLCC", "RMSE", "n", "left out", title=title)
    for m in rows:
        t.add_row(m["model"], m["dataset"], f"{m['srcc']:.3f} [{m['srcc_lo']:.3f}, {m['srcc_hi']:.3f}]",
                  f"{m['krcc']:.3f}", f"{m['plcc']:.3f}", f"{m['rmse']:.3f}", str(m["n"]), str(m["n_left_out"]))
    return t
