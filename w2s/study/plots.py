"""Figures of a study: SRCC per self-training round, and predicted score against MOS.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas,
never through pyplot, so nothing stays registered in pyplot's figure list and
no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from w2s.eval.metrics import fit_logistic4_params, logistic4, plcc, srcc

SIZE = (8.0, 4.5)  # inches
DPI = 100  # so a figure is SIZE * DPI pixels: 800 x 450


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    from w2s.core.io import replacing

    with replacing(path) as tmp:  # a hidden temp name: say the format, it cannot be read from it
        fig.savefig(tmp, dpi=DPI, format=path.suffix.lstrip(".") or "png")  # no bbox_inches="tight": the size stays SIZE * DPI
    return path


def plot_srcc_per_round(table: pd.DataFrame, path, refs: pd.DataFrame | None = None, title: str = "SRCC per round",
                        ylabel: str = "SRCC against MOS") -> Path:
    """One line per dataset: SRCC (y) of each round's student (x), with bootstrap error bars if given.

    ``table`` has ``dataset``, ``round``, ``srcc`` and optionally ``srcc_lo`` /
    ``srcc_hi``. ``refs`` (``dataset``, ``model``, ``srcc``) draws a dashed
    horizontal line per reference model (a teacher, the ensemble) in its
    dataset's colour. The legend sits right of the axes so it covers no line.
    """
    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    has_ci = {"srcc_lo", "srcc_hi"} <= set(table.columns)
    entries: dict[str, list] = {}  # dataset -> legend (handle, label), so the legend groups by dataset
    colors: dict[str, str] = {}
    for dataset, group in table.groupby("dataset", sort=False):
        group = group.sort_values("round")
        x, y = group["round"].to_numpy(), group["srcc"].to_numpy(dtype=float)
        if has_ci:
            err = np.vstack([y - group["srcc_lo"].to_numpy(dtype=float), group["srcc_hi"].to_numpy(dtype=float) - y])
            # a percentile interval of a tiny set need not hold its point estimate (most resamples of
            # 2 videos are ties, NaN): no bar beyond the point rather than a plotting error
            err = np.nan_to_num(np.clip(err, 0.0, None))
            handle = ax.errorbar(x, y, yerr=err, marker="o", capsize=3)
            colors[dataset] = handle.lines[0].get_color()
        else:
            (handle,) = ax.plot(x, y, marker="o")
            colors[dataset] = handle.get_color()
        entries[dataset] = [(handle, f"{dataset}: student")]
    if refs is not None and len(refs):
        styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]  # one dash pattern per reference model
        for i, model in enumerate(dict.fromkeys(refs["model"])):
            for _, r in refs[refs["model"] == model].iterrows():
                color = colors.get(r["dataset"], "grey")  # a dataset without a student line: grey
                line = ax.axhline(r["srcc"], color=color, linestyle=styles[i % len(styles)], linewidth=1.2)
                entries.setdefault(r["dataset"], []).append((line, f"{r['dataset']}: {model}"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
    ax.set_xlabel("self-training round")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend = [e for group in entries.values() for e in group]
    if legend:
        ax.legend(*zip(*legend, strict=True), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    return _save(fig, path)


def plot_scatter(
    pred,
    target,
    path,
    title: str,
    lower_better: bool = False,
    mos_label: str = "MOS",
    mos_range: tuple[float, float] | None = None,
) -> Path:
    """Predicted score (x) against MOS (y), with the fitted 4-parameter logistic and SRCC/PLCC in a box.

    ``target`` is the file's own MOS (DMOS if ``lower_better``), drawn on its own
    scale; the metrics are computed on the higher-is-better orientation, as
    every metric reads them. ``mos_range`` (the scale's ends) fixes the y axis.
    """
    pred = np.asarray(pred, dtype=np.float64)
    mos = np.asarray(target, dtype=np.float64)
    keep = np.isfinite(pred) & np.isfinite(mos)
    pred, mos = pred[keep], mos[keep]
    oriented = -mos if lower_better else mos
    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(pred, mos, s=12, alpha=0.6, edgecolors="none", label="videos")
    params = fit_logistic4_params(pred, oriented) if pred.size >= 5 else None
    if params is not None:
        xs = np.linspace(pred.min(), pred.max(), 200)
        ys = logistic4(xs, *params)
        ax.plot(xs, -ys if lower_better else ys, color="C3", linewidth=2, label="4-parameter logistic fit")
    # a good model's points run along one diagonal (down it for DMOS): text and legend
    # go in the two corners off it
    box_x, legend_loc = (0.98, "lower left") if lower_better else (0.02, "lower right")
    if params is not None:
        ax.legend(loc=legend_loc, fontsize="small")
    text = f"SRCC {srcc(pred, oriented):.3f}\nPLCC {plcc(pred, oriented):.3f}\nn = {pred.size}"
    ax.text(box_x, 0.98, text, transform=ax.transAxes, va="top", ha="right" if lower_better else "left",
            fontsize="small", multialignment="left", bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    if mos_range is not None:
        pad = 0.03 * (mos_range[1] - mos_range[0])  # points on the scale's ends stay whole
        ax.set_ylim(mos_range[0] - pad, mos_range[1] + pad)
    ax.set_xlabel("predicted score (higher is better)")
    ax.set_ylabel(f"{mos_label} ({'lower' if lower_better else 'higher'} is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
