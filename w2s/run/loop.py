"""One weak-to-strong run: pool -> labels -> rounds of (pairs, student, out-of-fold scores, eval).

:func:`run` is the method and :func:`train_rounds` its loop; read them first (what each step
computes is in :mod:`w2s.run.round`). Each stage's output is a file of the
run folder (:class:`w2s.run.folder.RunFolder`), written atomically; a stage
whose file exists is read instead of computed (:func:`w2s.run.folder.cached`),
so a rerun of a finished or killed run skips what is complete and finishes the
rest, and raising ``rounds`` continues a finished run. Within one process the
values pass forward in memory.
"""


from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from w2s.config import RunConfig
from w2s.core import io
from w2s.core.errors import ConfigError
from w2s.core.names import student_teacher_name
from w2s.run.context import Context
from w2s.run.hard_cases import out_of_fold_scores, round_seed
from w2s.run.labels import Labels
from w2s.run.panel import TeacherPanel
from w2s.run.pool import label_split, write_failures
from w2s.run.round import (
    build_pairs,
    distil_student,
    evaluate_round,
    load_head,
    results_table,
    save_student,
    score_labels,
    train_student,
    write_card,
)
from w2s.run.train import default_accelerator

log = logging.getLogger(__name__)


def run(
    config: RunConfig,
    stop_after: str | None = None,
    on_round: Callable[[int, pd.DataFrame], None] | None = None,
    accelerator=None,
    reuse: str | Path | None = None,
) -> Path:
    """Run (or resume) every stage; ``stop_after`` is ``label``, ``evalset``, ``pairs:K`` or ``round:K``;
    ``reuse``: a run folder whose label stage computed part of this one's (:mod:`w2s.run.reuse`)."""
    ctx = Context(config, accelerator or default_accelerator())
    if reuse is not None:
        if Path(reuse).resolve() == Path(config.run_dir).resolve():
            raise ConfigError(f"--reuse {reuse} is this run's own folder: reuse another run, and give this one a new name")
        ctx.reuse_from = Path(reuse)
    ctx.start()
    pool = label_split(ctx, "label", config.pool.source, config.pool.limit, config.training_families(), shares=True)
    if stop_after == "label":
        return ctx.folder.root
    evalset = None
    if config.eval.source != "none":
        evalset = label_split(ctx, "evalset", config.eval.source, config.eval.limit, config.eval_families(),
                              vmaf=config.eval.vmaf)
    write_failures(ctx)
    if stop_after == "evalset":
        return ctx.folder.root
    heads = train_rounds(ctx, pool, evalset, on_round, stop_after)
    if heads and config.eval.lofo != "none":
        # every process takes part: the held-out rounds train their heads together
        ctx.cached(ctx.folder.lofo, lambda: run_lofo(ctx, pool), io.write_parquet, pd.read_parquet)
    ctx.barrier()
    if heads is not None and ctx.main:
        finish(ctx, pool)
    return ctx.folder.root


def finish(ctx: Context, pool: Labels) -> None:
    """The run's last files, once every stage is done: the model cards again when leave-one-family-out
    ran (computed after the rounds, it says where each student is weak), then report.md (with or
    without a held-out set)."""
    from w2s.run.report import write_report

    if ctx.folder.lofo.exists():
        for k in range(ctx.config.rounds):
            metrics = ctx.folder.round(k).metrics
            write_card(ctx, k, io.read_json(metrics) if metrics.exists() else None, pool.items)
    write_report(ctx.config)


def train_rounds(ctx: Context, pool: Labels, evalset: Labels | None = None, on_round=None,
                 stop_after: str | None = None) -> list | None:
    """The rounds: pairs, student, out-of-fold scores (how it teaches the next round), evaluation.
    Returns every round's head, or None when ``stop_after`` stopped it first."""
    config = ctx.config
    pool = pool.of_run(config)
    dist = pool.distortion_pairs(config)
    heads, oof, pairs, weak = [], [], None, None  # students' heads, out-of-fold scores, last pairs, round 0's panel
    for k in range(config.rounds):
        files = ctx.folder.round(k)
        if k > 0:  # the previous student as a teacher: its out-of-fold scores of the pool
            oof.append(ctx.cached(ctx.folder.round(k - 1).oof, lambda: out_of_fold_scores(
                pool, pairs, config, round_seed(config, k), ctx.accelerator), pool.write_scores, pool.read_scores))
        panel = TeacherPanel.of_round(pool, oof, dist, config)
        if k == 0:  # round 0's teachers: the weak ensemble every round is compared with, and the prior
            weak = panel
            pool = pool.with_prior(panel.prior(config))
        ctx.cached(files.teachers, lambda: panel.summary(), io.write_json, io.read_json, main_only=True)
        ctx.cached(files.scores, lambda: panel.scores.drop(columns=["params"]), io.write_parquet, pd.read_parquet,
                   main_only=True)
        previous = pairs
        pairs = ctx.cached(files.pairs, lambda: build_pairs(pool, panel, dist, previous, config, k),
                           io.write_parquet, pd.read_parquet)
        log.info("round %d: %d pairs (%s)", k, len(pairs), pairs.source.value_counts().to_dict())
        if stop_after == f"pairs:{k}":
            return None
        standalone = config.student.standalone and pool.prior is not None
        # with student.standalone the prior student is saved beside the round's student, which is its distillation
        heads.append(ctx.cached(files.student_prior if standalone else files.student,
                                lambda: train_student(pool, pairs, config, k, ctx.accelerator, checkpoint=files.train_state),
                                lambda head, path: save_student(ctx, head, pool, k, path), load_head))
        others = comparative_round(ctx, pool, pairs, panel, evalset, k) if config.student.kind == "comparative" else {}
        if standalone:
            alone = ctx.cached(files.student, lambda: distil_student(pool, heads[-1], pairs, config, k, ctx.accelerator,
                                                                     checkpoint=files.distil_state),
                               lambda head, path: save_student(ctx, head, pool, k, path, distilled=True), load_head)
            if evalset is not None:
                others[f"standalone r{k}"] = score_labels(alone, evalset)
        results = None
        if evalset is not None:
            results = ctx.cached(files.metrics, lambda: evaluate_round(evalset, heads, panel, weak, config, files.eval,
                                                                       others),
                                 io.write_json, io.read_json, main_only=True)
            if on_round and ctx.main:
                on_round(k, results_table(results, panel))
        if ctx.main:  # the round's last file: its student's model card
            write_card(ctx, k, results, pool.items)
        if stop_after == f"round:{k}":
            return None
    return heads


def comparative_round(ctx: Context, pool: Labels, pairs: pd.DataFrame, panel: TeacherPanel, evalset: Labels | None,
                      k: int) -> dict:
    """The comparative student (``student.kind: comparative``), trained beside the head into
    round_XX/comparative/; its held-out scores, a row of the round's metrics."""
    from w2s.run.train_comparative import score_comparative, train_round_comparative

    files = ctx.folder.round(k)
    ctx.cached(files.comparative, lambda: train_round_comparative(ctx, pool, pairs, panel, k),
               lambda student, path: student.save_pretrained(path), lambda path: path)
    if evalset is None:
        return {}
    return {f"comparative r{k}": ctx.cached(files.eval / "comparative_scores.parquet",
                                            lambda: score_comparative(ctx, evalset, files.comparative),
                                            evalset.write_scores, evalset.read_scores)}


def run_lofo(ctx: Context, pool: Labels) -> pd.DataFrame:
    """The run's leave-one-family-out stage: each training family held out in turn, the rounds
    (``eval.lofo: first``: round 0 only) are run again, in a scratch folder of the run (shared by
    every process, so a launch of several runs it as it runs the rounds; removed once the table is
    written), on the pool without that family's items, and every round's student and the teachers'
    ensemble are scored on its ladders (:func:`w2s.eval.lofo.leave_one_family_out`). A killed
    computation resumes at the stage it had reached."""
    from w2s.eval import lofo

    config = ctx.config
    scratch = ctx.folder.root / "lofo_scratch"

    def fit(family: str) -> dict[str, np.ndarray]:
        rest = {f: v for f, v in config.distortions.items() if f != family}
        held = dataclasses.replace(config, name=f"without_{family}", output_dir=str(scratch), distortions=rest,
                                   rounds=1 if config.eval.lofo == "first" else config.rounds)
        sub = Context(held, ctx.accelerator)
        sub.backbone_info = ctx.backbone_info
        heads = train_rounds(sub, pool)
        held_pool = pool.of_run(held)
        panel = TeacherPanel.of_round(held_pool, [], held_pool.distortion_pairs(held), held)
        scores = {student_teacher_name(k): score_labels(h, pool) for k, h in enumerate(heads)}
        scores["ensemble"] = panel.consensus(pool.items, weak_only=True)
        return scores

    log.info("leave-one-family-out over %s (%s)", ", ".join(config.distortions), config.eval.lofo)
    table = lofo.leave_one_family_out(pool.items, config, fit, progress=True)
    ctx.barrier()
    if ctx.main:
        shutil.rmtree(scratch, ignore_errors=True)
    return table
