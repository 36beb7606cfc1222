"""report.md: the last round's table, per-family figures and the run's numbers."""

from __future__ import annotations

import pandas as pd

from w2s.config import RunConfig
from w2s.core import io
from w2s.eval.tables import markdown_table


def pair_sources(pairs: pd.DataFrame, shares: dict | None) -> pd.DataFrame:
    """Pairs per source and each source's share of the loss."""
    from w2s.run.train import loss_weights

    weights = pd.Series(loss_weights(pairs.source, shares), index=pairs.index)
    out = pairs.groupby("source").size().rename("pairs").to_frame()
    out["share"] = weights.groupby(pairs.source).sum() / weights.sum()
    return out.sort_values("pairs", ascending=False).reset_index()


def lofo_section(folder) -> str:
    """The leave-one-family-out tables, when the run computed them (``eval.lofo``)."""
    if not folder.lofo.exists():
        return ""
    from w2s.eval.lofo import lofo_markdown, summarize_lofo

    per_family = pd.read_parquet(folder.lofo)
    return "\n" + lofo_markdown(summarize_lofo(per_family), per_family)


def write_report(config: RunConfig):
    from w2s.run.folder import RunFolder
    from w2s.run.round import results_table

    folder = RunFolder(config.run_dir)
    last = folder.round(config.rounds - 1)
    metrics = io.read_json(last.metrics)
    teachers = io.read_json(last.teachers)
    table = results_table(metrics, teachers)
    families = sorted({f for m in metrics.values() for f in m["per_family"]})
    ood = set(config.eval.ood)
    per_family = pd.DataFrame(
        [{"model": name, **{(f + (" (OOD)" if f in ood else "")): m["per_family"].get(f) for f in families}} for name, m in metrics.items()]
    )
    pairs = pd.read_parquet(last.pairs)
    failures = pd.read_parquet(folder.failures) if folder.failures.exists() else pd.DataFrame()
    text = f"""# {config.name}: weak-to-strong run, {config.rounds} round(s)

Teachers of round 0: {", ".join(config.teacher_names())}; each later round adds the previous student.
Training distortions: {", ".join(config.distortions)}. Held-out (OOD) families: {", ".join(config.eval.ood)}.

## Held-out content, after round {config.rounds - 1}

Reliability: a teacher's pairwise accuracy on the known-order distortion pairs of the training pool.
ID/OOD SRCC: mean SRCC against severity order within each (content, family), families seen / never seen in training.
VMAF: SRCC and PLCC (4-parameter logistic) against VMAF of codec variants vs their clean clip, across contents.

{markdown_table(table)}

## SRCC against severity order, per family

{markdown_table(per_family)}

## Pairs of the last round

Share: each source's part of the training loss (`train.shares`; without it, its part of the pairs).

{markdown_table(pair_sources(pairs, config.train.shares))}
{lofo_section(folder)}
Files that could not be used: {len(failures)} (see failures.parquet).
"""
    io.write_text(text, folder.report)
    return folder.report
