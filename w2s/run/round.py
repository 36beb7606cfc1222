"""What one round computes from the labelled pool (:mod:`w2s.run.labels`) and its teacher panel
(:mod:`w2s.run.panel`): the pairs, the student and its evaluation. :mod:`w2s.run.loop` strings them
together; nothing here reads or writes the run folder except through the context or paths it is handed.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from w2s.config import RunConfig
from w2s.core import io
from w2s.core.names import score_column, student_teacher_name
from w2s.core.scale import fit_scale, saved_scale
from w2s.eval.severity import evaluate_scores
from w2s.run.hard_cases import mine_hard_cases
from w2s.run.labels import Labels
from w2s.run.pairs import teacher_pairs
from w2s.run.panel import TeacherPanel
from w2s.run.train import score_items, train_head


def build_pairs(pool: Labels, panel: TeacherPanel, dist: pd.DataFrame, previous: pd.DataFrame | None,
                config: RunConfig, k: int) -> pd.DataFrame:
    """Teacher pairs (the same draw every round, labelled by the round's ensemble), pairs of
    variants labelled by the full-reference teachers, distortion pairs, the hard cases of earlier
    rounds and those the last student gets wrong out of fold."""
    columns, weights = panel.select()
    parts = [teacher_pairs(panel.scores, columns, weights, config.pairs.teacher_pairs, config.seed,
                           config.pairs.min_confidence)]
    if config.pairs.clean_pairs:
        clean = np.flatnonzero((pool.items.family == "").to_numpy())
        parts.append(teacher_pairs(panel.scores, columns, weights, config.pairs.clean_pairs, config.seed + 2,
                                   config.pairs.min_confidence, rows=clean))
    fr_columns, fr_weights = panel.select(full_reference=True)
    if fr_columns and config.pairs.fr_pairs:
        variants = np.flatnonzero((pool.items.family != "").to_numpy())
        parts.append(teacher_pairs(panel.scores, fr_columns, fr_weights, config.pairs.fr_pairs, config.seed + 1,
                                   config.pairs.min_confidence, rows=variants, source="fr",
                                   within_content=config.pairs.fr_scope == "within"))
    parts = [p.assign(round=k) for p in [*parts, dist]]
    if k > 0:
        parts.append(previous[previous.source.str.startswith("hard_")])  # keeping the round they were found in
        oof = panel.scores[panel.columns[-1]].to_numpy()
        parts.append(mine_hard_cases(pool, previous, oof, panel, config, k))
    return pd.concat(parts, ignore_index=True)


def train_student(pool: Labels, pairs: pd.DataFrame, config: RunConfig, k: int, accelerator,
                  checkpoint: Path | None = None):
    """The round-k student's head; ``checkpoint``: the folder of its training state (resumed from if there)."""
    head, history = train_head(pool.features, pairs, pool.index, config.student, config.train, config.seed + k,
                               accelerator, base=pool.base, blocks=pool.blocks, checkpoint=checkpoint)
    head.history = history  # written beside the student (train_log.json)
    head.prior = pool.prior  # saved with the student: it scores base + prior + residual
    return head


DISTIL_SEED = 7919  # added to the round's seed: the distillation's pairs, init and order differ from the training's


def distil_pairs(pool: Labels, scores: np.ndarray, n: int, seed: int) -> pd.DataFrame:
    """``n`` seeded pairs of distinct pool items (clean clips and variants alike), each labelled with
    the probability the prior student's ``scores`` give it under the trainer's own Thurstone model,
    ``Phi((s_a - s_b) / sqrt 2)``: a branch that scores exactly as the prior student has zero loss."""
    from scipy.special import ndtr

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(scores), n), rng.integers(0, len(scores), n)
    keep = a != b
    a, b = a[keep], b[keep]
    ids = pool.items.item_id.to_numpy()
    p = ndtr((scores[a] - scores[b]) / np.sqrt(2.0)).astype(np.float32)
    return pd.DataFrame({"a": ids[a], "b": ids[b], "p": p, "source": "distil"})


def distil_student(pool: Labels, head, pairs: pd.DataFrame, config: RunConfig, k: int, accelerator,
                   checkpoint: Path | None = None):
    """The round-k standalone student (``student.standalone``): one branch of the prior student's shape on
    the same features, trained by the round's loss and schedule on as many pairs as the round's
    training had (:func:`distil_pairs`), with no prior in its base; it scores with no teacher."""
    scores = score_labels(head, pool)
    seed = config.seed + k + DISTIL_SEED
    train = replace(config.train, shares=None)  # one source: every pair weighs the same
    own = pool.with_prior(None)  # the backbone's own score (0 for a CNN) is the only base
    student, history = train_head(own.features, distil_pairs(pool, scores, len(pairs), seed), own.index,
                                  config.student, train, seed, accelerator, norm_rows=np.arange(len(own.items)),
                                  base=own.base, blocks=own.blocks, checkpoint=checkpoint)
    student.history = history
    student.prior = None
    return student


def save_student(ctx, head, pool: Labels, k: int, path: Path, distilled: bool = False) -> None:
    """Write the round-k student (``ctx``: the run's :class:`w2s.run.context.Context`), after its
    training log; the training checkpoint it supersedes is removed. ``distilled``: the standalone
    student (:func:`distil_student`), whose log and checkpoint are the distillation's."""
    from students.student import Student

    config = ctx.config
    files = ctx.folder.round(k)
    clean = (pool.items.family == "").to_numpy()
    meta = {
        "trainable_share": sum(p.numel() for p in head.parameters()) / ctx.backbone_info["parameters"],
        "round": k,
        "run": config.name,
        "sampler": config.pool.sampler,
        "max_side": config.pool.max_side,
        # the 0-100 scale of `w2s score` (w2s.core.scale): 50 at the median clean clip of the pool, the
        # clean clips' middle half on about 25..75; a percentile over every item saturated, most being
        # distorted copies that ordinary videos all beat
        "score_scale": fit_scale(score_labels(head, pool), clean,
                                 f"the {clean.sum()} clean clips of the training pool ({config.pool.source})"),
    }
    if distilled:
        meta["standalone"] = {"distilled_from": files.student_prior.name}
    # the log first: the student's folder is what marks the training done (a kill between the two
    # must not leave a student without its log)
    io.write_json({"epoch_loss": head.history, "num_processes": ctx.accelerator.num_processes},
                  files.distil_log if distilled else files.train_log)
    Student.from_config(config.student, head, meta=meta, prior=head.prior).save_pretrained(path)
    shutil.rmtree(files.distil_state if distilled else files.train_state, ignore_errors=True)


def write_card(ctx, k: int, metrics: dict | None, pool_items: pd.DataFrame | None = None) -> None:
    """The round-k student's model card (README.md in its folder), with the held-out table if any,
    what it saw (the training pool's ``pool_items``) and where it is weak (:mod:`w2s.run.facts`)."""
    from students import describe_spec, spec_label
    from w2s.eval.model_card import write_model_card
    from w2s.run.facts import pool_facts, weak_spots
    from w2s.run.provenance import versions

    files = ctx.folder.round(k)
    saved = io.read_json(files.student / "config.json")
    meta = saved.get("meta", {})
    student = {"name": f"{ctx.config.name} student r{k}", "backbone": spec_label(saved["backbone"]),
               "description": describe_spec(saved["backbone"]), "backbone_options": saved.get("backbone_options"),
               "extras": {o: saved.get(o, False) for o in ("motion", "temporal", "nss")},
               "prior": (saved.get("prior") or {}).get("teachers", []), "round": k,
               "sampler": meta.get("sampler"), "max_side": meta.get("max_side"),
               "trainable_share": meta.get("trainable_share", float("nan")), "scale": saved_scale(meta)}
    run = {"name": ctx.config.name, "teachers": ctx.config.teacher_names(),
           "reliability": io.read_json(files.teachers), "metrics": metrics, "versions": versions(),
           "pool": None if pool_items is None else pool_facts(pool_items, ctx.config),
           "weak": weak_spots(ctx.config, k, metrics, ctx.folder.lofo)}
    write_model_card(files.student, student, run)


def load_head(path: Path):
    from students.student import Student

    student = Student.from_pretrained(path)
    student.head.prior = student.prior
    return student.head


def score_labels(head, labels: Labels) -> np.ndarray:
    """A head's student scores of labelled items: its residual on their features plus their base
    (with the prior the head was trained on)."""
    labels = labels.with_prior(head.prior)
    return score_items(head, labels.features, labels.base)


def evaluate_round(evalset: Labels, heads: list, panel: TeacherPanel, weak: TeacherPanel, config: RunConfig,
                   out: Path, others: dict | None = None) -> dict:
    """Each teacher, the ensembles and every student so far on the held-out set.

    ``weak`` are round 0's teachers: the weak ensemble keeps their weights in every round (later
    rounds re-measure the weak teachers' reliability against the students too), so that it is the
    same yardstick for every student."""
    items = evalset.items.copy()
    models = {t: items[score_column(t)].to_numpy() for t in config.teacher_names()}
    # the weak no-reference teachers' ensemble (what round 0 learns from; a full-reference teacher
    # sees the clean clip, which a no-reference model never does) and, from round 1 on, the
    # ensemble of this round's no-reference teachers, which includes every earlier student
    models["ensemble"] = weak.consensus(items, weak_only=True)
    student_scores = {student_teacher_name(j): score_labels(h, evalset) for j, h in enumerate(heads)}
    items = items.assign(**{score_column(name): s for name, s in student_scores.items()})
    if len(heads) > 1 and config.pairs.student_votes == "both":
        # (with student_votes: within the students weigh nothing across contents, so this row would
        # be the weak teachers again under another name)
        models["ensemble + students"] = panel.consensus(items)
    models.update(student_scores)
    models.update(others or {})  # scores computed elsewhere, e.g. the comparative student's (w2s.run.train_comparative)
    io.write_parquet(items.drop(columns=["params"]).assign(**{f"model:{m}": s for m, s in models.items()}),
                     out / "scores.parquet")
    id_families = list(config.id_families())
    return {name: evaluate_scores(s, items, id_families, list(config.eval.ood)) for name, s in models.items()}


def results_table(results: dict, panel: TeacherPanel | dict) -> pd.DataFrame:
    """One row per model; a teacher's reliability within content and across contents beside it."""
    summary = panel.summary() if isinstance(panel, TeacherPanel) else panel
    within, across = summary["reliability"], summary.get("reliability_across", {})
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "model": name,
                "within": within.get(score_column(name), np.nan),
                "across": across.get(score_column(name), np.nan),
                "ID SRCC": r.get("id_srcc", np.nan),
                "OOD SRCC": r.get("ood_srcc", np.nan),
                "VMAF SRCC": r.get("vmaf_srcc", np.nan),
                "VMAF PLCC": r.get("vmaf_plcc", np.nan),
            }
        )
    return pd.DataFrame(rows)
