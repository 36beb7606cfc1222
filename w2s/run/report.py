"""report.md, written at the end of every run (held-out set or not): the training pool, the files
that failed, the teachers and their reliability, the pairs, the training per round, the held-out
tables (or a line saying there is no held-out set) and leave-one-family-out when it ran. Every
number is read from the run's files."""

from __future__ import annotations

from pathlib import Path

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


FAILURES_SHOWN = 20  # rows of the failures table in the report; the rest are in failures.parquet


def pool_section(config: RunConfig, folder) -> str:
    """The training pool: clean clips, where from, items, and each family's ladder (:mod:`w2s.run.facts`)."""
    from w2s.run.facts import pool_facts

    pool = pool_facts(pd.read_parquet(folder.items("label")), config)
    manifest = folder.manifest("label")
    scanned = f"; {len(pd.read_parquet(manifest))} file(s) scanned" if manifest.exists() else ""
    families = pd.DataFrame([{"family": f, "levels (mildest first)": f"{v['strength'] or 'levels'}: {', '.join(map(str, v['ladder']))}",
                              "items": v["items"], "labelled by": v["labels"]} for f, v in pool["families"].items()],
                            columns=["family", "levels (mildest first)", "items", "labelled by"])
    return f"""## Training pool

{pool['clips']} clean clip(s) from `{pool['source']}` (`pool.source`{scanned}) and their distorted variants: \
{pool['items']} items in all, in {len(pool['families'])} famil{'y' if len(pool['families']) == 1 else 'ies'}.

{markdown_table(families)}
"""


def failures_section(folder) -> str:
    """Every file that could not be used, the first :data:`FAILURES_SHOWN` as a table."""
    failures = pd.read_parquet(folder.failures) if folder.failures.exists() else pd.DataFrame()
    if failures.empty:
        return "## Failures\n\nNone: every file found was used.\n"
    columns = [c for c in ("stage", "path", "error") if c in failures]
    more = len(failures) - FAILURES_SHOWN
    rest = f"\n{more} more in failures.parquet.\n" if more > 0 else ""
    return f"""## Failures

{len(failures)} file(s) could not be used (failures.parquet):

{markdown_table(failures[columns].head(FAILURES_SHOWN))}
{rest}"""


def teachers_section(round_files, k: int) -> str:
    """The round's teachers (round 0's and every earlier student), their reliability and ensemble weights."""
    info = io.read_json(round_files.teachers)
    rows = [{"teacher": c.removeprefix("score:"), "within": within,
             "across": info.get("reliability_across", {}).get(c), "weight within": info.get("weights", {}).get(c),
             "weight across": info.get("weights_across", {}).get(c)} for c, within in info["reliability"].items()]
    return f"""## Teachers of round {k} and their reliability

Within: a teacher's pairwise accuracy on the known-order distortion pairs of the training pool (one content \
at a time); across: on pairs across contents. Weights: its part of the round's ensemble.

{markdown_table(pd.DataFrame(rows, columns=["teacher", "within", "across", "weight within", "weight across"]))}
"""


def training_section(config: RunConfig, folder) -> str:
    """Per round: the pairs it trained on, its epochs and the loss of its first and last epoch (train_log.json)."""
    rows = []
    for k in range(config.rounds):
        files = folder.round(k)
        log = io.read_json(files.train_log) if files.train_log.exists() else {}
        losses = log.get("epoch_loss") or []
        rows.append({"round": k, "pairs": len(pd.read_parquet(files.pairs)) if files.pairs.exists() else None,
                     "epochs": len(losses) or None, "first loss": losses[0] if losses else None,
                     "last loss": losses[-1] if losses else None, "processes": log.get("num_processes")})
    return f"""## Training

Per round: the pairs its student trained on, the epochs, and the mean training loss ({config.train.loss}) of \
the first and the last epoch (round_XX/train_log.json).

{markdown_table(pd.DataFrame(rows, dtype=object))}
"""


def heldout_section(config: RunConfig, round_files, k: int) -> str:
    """The held-out table and the SRCC per family; a line saying so when the run had no held-out set."""
    from w2s.run.round import results_table

    if not round_files.metrics.exists():
        return f"""## Held-out content

None: this run has no held-out set (`eval.source: {config.eval.source}`): no student was measured on content \
it did not train on. Set `eval.source` (e.g. `samples:eval`) to measure one.
"""
    metrics = io.read_json(round_files.metrics)
    table = results_table(metrics, io.read_json(round_files.teachers))
    families = sorted({f for m in metrics.values() for f in m["per_family"]})
    ood = set(config.eval.ood)
    per_family = pd.DataFrame(
        [{"model": name, **{(f + (" (OOD)" if f in ood else "")): m["per_family"].get(f) for f in families}}
         for name, m in metrics.items()]
    )
    return f"""## Held-out content, after round {k}

OOD families (never in training): {", ".join(config.eval.ood) or "none"}.
Reliability: a teacher's pairwise accuracy on the known-order distortion pairs of the training pool.
ID/OOD SRCC: mean SRCC against severity order within each (content, family), families seen / never seen in training.
VMAF: SRCC and PLCC (4-parameter logistic, increasing) against VMAF of codec variants vs their clean clip, across contents.

{markdown_table(table)}

## SRCC against severity order, per family

{markdown_table(per_family)}
"""


def write_report(config: RunConfig) -> Path:
    """Write the run's report.md from its files (:func:`w2s.run.loop.finish` calls it last)."""
    from w2s.run.folder import RunFolder

    folder = RunFolder(config.run_dir)
    k = config.rounds - 1
    last = folder.round(k)
    pairs = pd.read_parquet(last.pairs)
    text = "\n".join([
        f"# {config.name}: weak-to-strong run, {config.rounds} round(s)\n",
        f"Teachers of round 0: {', '.join(config.teacher_names())}; each later round adds the previous student.\n",
        pool_section(config, folder), failures_section(folder), teachers_section(last, k),
        (f"## Pairs of round {k}\n\nShare: each source's part of the training loss (`train.shares`; without it, its "
         f"part of the pairs).\n\n{markdown_table(pair_sources(pairs, config.train.shares))}\n"),
        training_section(config, folder), heldout_section(config, last, k), lofo_section(folder),
    ])
    io.write_text(text, folder.report)
    return folder.report
