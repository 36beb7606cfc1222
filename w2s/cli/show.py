"""What the commands show on the terminal: rich tables of results, metrics and failures."""

from __future__ import annotations

import math


def console():
    from rich.console import Console

    return Console()


def show_table(k: int, table, title: str | None = None) -> None:
    """The round's results as a rich table on the terminal."""
    from rich.table import Table

    t = Table(title=title or f"round {k}: held-out content (SRCC of severity order; VMAF vs clean clip)")
    for col in table.columns:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for _, row in table.iterrows():
        t.add_row(*[v if isinstance(v, str) else ("-" if math.isnan(v) else f"{v:.3f}") for v in row.tolist()])
    console().print(t)


def show_failures(df, path_column: str, reason_column: str, where) -> int:
    """The files that could not be used, with their reasons, on the terminal; 1 if any, else 0."""
    if not len(df):
        return 0
    from rich.table import Table

    t = Table("file", "why it was left out", title=f"{len(df)} file(s) could not be used (also in {where})")
    for path, reason in zip(df[path_column], df[reason_column]):
        t.add_row(str(path), str(reason))
    console().print(t)
    return 1


def metrics_table(rows: list[dict], title: str):
    from rich.table import Table

    t = Table("model", "set", "SRCC [95% CI]", "KRCC", "PLCC", "RMSE", "n", "left out", title=title)
    for m in rows:
        t.add_row(m["model"], m["dataset"], f"{m['srcc']:.3f} [{m['srcc_lo']:.3f}, {m['srcc_hi']:.3f}]",
                  f"{m['krcc']:.3f}", f"{m['plcc']:.3f}", f"{m['rmse']:.3f}", str(m["n"]), str(m["n_left_out"]))
    return t

