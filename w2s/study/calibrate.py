"""Few-shot calibration: refit a saved student's calibration branch on a share of a set's MOS.

The setting of DPC-VQA: a small random share of a human-rated set is labelled,
the rest is what the model is measured on. ``calibrate`` asks whether the
weak-to-strong student is a better starting point for those few labels than
nothing, and whether it needs them at all. Per seeded split it compares, on
the same test videos:

- ``zero_shot``: the student as saved (no MOS seen);
- ``calibrated``: its calibration branch fine-tuned on pairs of the training
  share's MOS, starting from its own weights and input standardisation;
- ``scratch``: a new branch of the same shape trained on the same pairs.

All three score ``base + head(features)`` with the same frozen features and the
same base (the backbone's own score plus the student's teacher prior, if it
has one), so the starting point of the branch is the only thing that differs
between ``calibrated`` and ``scratch``.

Written under ``out``:

- ``features.safetensors``: each readable video's features and base, with the
  ids, paths and the settings that made them in its metadata (a rerun embeds
  only what is missing; other settings are refused);
- ``failures.parquet``: every video left out (id, path, reason);
- ``splits.parquet``: one row per split and model (split, model, srcc, plcc,
  n_train, n_test); ``scores.parquet``: each model's score of each test video
  per split (split, model, id, score, target);
- ``summary.json``: per model the median and quartiles of SRCC and PLCC over
  the splits (also returned);
- ``student/``: the student calibrated on split 0's share, loadable wherever a
  saved student is (``w2s score --model``, a ``student:`` teacher).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from scipy.special import ndtr
from tqdm.auto import tqdm

from w2s import io
from w2s.errors import W2SError
from w2s.labelled.set import FAILURE_COLUMNS, LabelledSet
from w2s.pairs import draw_pairs, standardize

log = logging.getLogger(__name__)

FEATURES = "features.safetensors"
MODELS = ("zero_shot", "calibrated", "scratch")
SPLIT_COLUMNS = ["split", "model", "srcc", "plcc", "n_train", "n_test"]
MAX_PAIRS = 50_000  # all pairs of up to ~316 training videos; beyond, a seeded sample of them
FLUSH_EVERY = 64  # videos embedded between cache writes: a killed run loses at most these

# Fine-tuning recipe. The branch already ranks what the teachers taught it; a few hundred MOS pairs
# should bend it, not replace it. lr 3e-4 is a third of the peak that trains a branch from scratch
# (TrainConfig: 1e-3): with Adam every weight moves ~lr per step whatever the gradient's size, so
# across a 4k-feature branch even the ~80 steps of a tiny share shift scores by whole units, while
# the full training peak would overwrite the w2s solution within the first epoch of a small share.
# 10 epochs (half a run's 20): all pairs of n videos show each video n - 1 times per epoch, so 10
# already show each ~10 n times; more only memorises the share (no validation set to stop early on).
EPOCHS = 10
LR = 3e-4
# A small share has few pairs (20 videos: 190), which at the training batch of 512 would be one step
# per epoch: batches shrink so that an epoch is at least this many steps (smaller, noisier batches
# are what little data wants anyway), and a share too small even for that (2-4 videos: 1-6 pairs)
# gets more epochs, up to this many steps in all: train_head's one-cycle schedule warms up over the
# first 10 % of the steps and fails with 10 or fewer.
MIN_STEPS_PER_EPOCH = 8
MIN_STEPS = 20


def _settings(student, sampler, side) -> dict:
    """What the cached features depend on: the perception, the prior and how frames are read (not the head)."""
    return json.loads(json.dumps({
        "backbone": student.backbone_name,
        "backbone_options": student.backbone_options,
        "extras": student.extras,
        "prior": student.prior.to_dict() if student.prior is not None else None,
        "sampler": sampler.spec(),
        "max_side": side,
    }))


def _read_cache(path: Path, settings: dict) -> dict[tuple[str, str], tuple[torch.Tensor, float]]:
    """(features, base) already embedded, by (id, path); refuses a cache other settings wrote."""
    if not path.is_file():
        return {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        features, base = f.get_tensor("features"), f.get_tensor("base")
    saved = json.loads(meta.get("settings", "null"))
    if saved != settings:
        raise W2SError(
            f"{path} holds features from other settings ({saved}), not {settings}: "
            "use another output folder or delete the file"
        )
    keys = zip(json.loads(meta["ids"]), json.loads(meta["paths"]))
    return {k: (features[i], float(base[i])) for i, k in enumerate(keys)}


def _write_cache(path: Path, done: dict, settings: dict) -> None:
    """One file, written atomically: ids and settings travel in its metadata, so they cannot disagree."""
    if not done:
        return
    keys = list(done)
    tensors = {
        "features": torch.stack([done[k][0] for k in keys]).float().contiguous(),
        "base": torch.tensor([done[k][1] for k in keys], dtype=torch.float64),
    }
    meta = {"ids": json.dumps([k[0] for k in keys]), "paths": json.dumps([k[1] for k in keys]),
            "settings": json.dumps(settings)}
    io.write_tensors(tensors, path, metadata=meta)


def _embedder(student):
    """``clip -> (features, base)`` exactly as :meth:`Student.score` computes them before its head."""
    prior_scorer = None

    def embed(clip) -> tuple[torch.Tensor, float]:
        nonlocal prior_scorer
        features, base = student.backbone.embed_with_base(clip)
        if student.prior is not None:
            if prior_scorer is None:  # the prior's teachers, built once
                from students.prior import PriorScorer

                prior_scorer = PriorScorer(student.prior)
            base = base + prior_scorer(clip)
        features = features.float().cpu()
        if not torch.isfinite(features).all() or not math.isfinite(base):
            raise ValueError("the student's perception gave non-finite features or base")
        return features, float(base)

    return embed


def embed_set(student, labelled: LabelledSet, out: Path) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    """Every readable video's features and base, from the cache where it has them.

    Returns (videos: id, path, target of the usable ones in the label file's order;
    features (N, dim); base (N,) float64), and writes ``failures.parquet``.
    """
    from w2s.media.decode import read_clip
    from w2s.media.samplers import make_sampler
    from w2s.study.evaluate import DEFAULT_SAMPLER

    # frames are read as `w2s score` and w2s.study.evaluate read them for this student
    sampler = make_sampler(student.meta.get("sampler") or DEFAULT_SAMPLER)
    side = student.meta.get("max_side")
    settings = _settings(student, sampler, side)
    cache = out / FEATURES
    done = _read_cache(cache, settings)
    videos = labelled.videos.reset_index(drop=True)
    keys = [(str(i), str(p)) for i, p in zip(videos["id"], videos["path"])]
    todo = [k for k in keys if k not in done]
    log.info("%s: %d videos, %d embedded before", labelled.name, len(keys), len(keys) - len(todo))

    embed = _embedder(student)
    errors: dict[tuple[str, str], str] = {}
    fresh = 0
    for key in tqdm(todo, desc=f"embed {labelled.name}", unit="video"):
        try:
            # clip id left at its default (the file stem), as `w2s score` reads it: a fragments
            # sampler then places its patches where the saved student's scoring will
            done[key] = embed(read_clip(key[1], sampler, max_side=side or None))
        except Exception as e:  # noqa: BLE001 - one bad video never stops the others; its reason is kept
            log.warning("cannot embed %s: %s", key[1], e)
            errors[key] = str(e) or type(e).__name__
            continue
        fresh += 1
        if fresh % FLUSH_EVERY == 0:
            _write_cache(cache, done, settings)
    if fresh:
        _write_cache(cache, done, settings)

    failures = pd.concat(
        [p for p in (labelled.failures.reindex(columns=FAILURE_COLUMNS),
                     pd.DataFrame([(k[0], k[1], r) for k, r in errors.items()], columns=FAILURE_COLUMNS)) if len(p)]
        or [pd.DataFrame(columns=FAILURE_COLUMNS)],
        ignore_index=True,
    )
    # parquet wants one type per column: ids and paths as text, a missing one stays missing
    failures = failures.apply(lambda c: c.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)))
    io.write_parquet(failures, out / "failures.parquet")
    if errors:
        log.warning("%d of %d videos could not be embedded; reasons in %s", len(errors), len(keys), out / "failures.parquet")

    ok = [i for i, k in enumerate(keys) if k in done]
    table = pd.DataFrame({"id": [keys[i][0] for i in ok], "path": [keys[i][1] for i in ok],
                          "target": labelled.target[ok]})
    features = torch.stack([done[keys[i]][0] for i in ok]) if ok else torch.empty(0, 0)
    base = torch.tensor([done[keys[i]][1] for i in ok], dtype=torch.float64)
    return table, features, base


def n_train_of(fraction: float, n: int) -> int:
    """Training videos of a split: ``fraction`` of the usable ones, rounded."""
    return round(fraction * n)


def _check_share(fraction: float, n: int, what: str) -> tuple[int, int]:
    if not 0 < fraction < 1:
        raise W2SError(f"--fraction must be between 0 and 1 (the share of videos whose MOS is used), got {fraction}")
    n_train = n_train_of(fraction, n)
    if n_train < 2:
        raise W2SError(
            f"--fraction {fraction} of {n} {what} gives {n_train} training video(s): calibration needs at "
            f"least 2 to make a pair; use a fraction of at least {2 / n:.3g} or a larger set"
        )
    if n - n_train < 2:
        raise W2SError(
            f"--fraction {fraction} of {n} {what} leaves {n - n_train} test video(s): at least 2 are needed "
            "to measure a correlation; use a smaller fraction"
        )
    return n_train, n - n_train


def mos_pairs(ids: np.ndarray, target: np.ndarray, seed: int, cap: int = MAX_PAIRS) -> pd.DataFrame:
    """Pairs of the training videos labelled from their MOS as teacher pairs are (w2s.pairs):
    ``p = Phi((z_a - z_b) / sqrt 2)`` on the targets standardised over these videos.

    Standardising over the training share only keeps the test MOS out of training;
    the Thurstone link then gives two videos one standard deviation apart p = 0.76, as
    it does for a teacher, so the fine-tuning sees pairs as certain as those the branch
    was trained on. All pairs up to ``cap``, else a seeded sample of ``cap``.
    """
    n = len(ids)
    rng = np.random.default_rng(seed)
    if n * (n - 1) // 2 <= cap:
        # every pair, enumerated (draw_pairs' rejection sampling is slow when asked for all of them)
        ia, ib = np.triu_indices(n, k=1)
        flip = rng.random(len(ia)) < 0.5  # random orientation, as draw_pairs gives
        ia, ib = np.where(flip, ib, ia), np.where(flip, ia, ib)
    else:
        ia, ib = draw_pairs(n, cap, seed)
    z = standardize(target)
    p = ndtr((z[ia] - z[ib]) / math.sqrt(2.0))
    return pd.DataFrame({"a": ids[ia], "b": ids[ib], "p": p, "source": "mos"})


def recipe(n_pairs: int, epochs: int, lr: float):
    """The TrainConfig that trains a branch on ``n_pairs`` pairs for ``epochs`` at ``lr``, with the
    batch size and (for the tiniest shares) epochs that give enough steps (MIN_STEPS_PER_EPOCH, MIN_STEPS)."""
    from w2s.config import TrainConfig

    batch = max(1, min(TrainConfig().batch_size, math.ceil(n_pairs / MIN_STEPS_PER_EPOCH)))
    steps = math.ceil(n_pairs / batch)
    return TrainConfig(epochs=max(epochs, math.ceil(MIN_STEPS / steps)), lr=lr, batch_size=batch)


def _quartiles(values: pd.Series) -> dict[str, float]:
    v = values.to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]  # a split where a model ranks nothing (constant scores) has no correlation
    if v.size == 0:
        return {"median": float("nan"), "q25": float("nan"), "q75": float("nan")}
    q25, median, q75 = np.percentile(v, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75)}


def summarise(splits: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per model: median and quartiles of SRCC and PLCC over the splits (srcc_median, srcc_q25, ...)."""
    out = {}
    for model in MODELS:
        rows = splits[splits.model == model]
        out[model] = {f"{m}_{k}": v for m in ("srcc", "plcc") for k, v in _quartiles(rows[m]).items()}
        out[model]["n_splits"] = len(rows)
    return out


def calibrate(
    student_dir: str | Path,
    labelled: LabelledSet,
    out: Path,
    fraction: float = 0.2,
    splits: int = 10,
    seed: int = 0,
    epochs: int = EPOCHS,
    lr: float = LR,
    scratch_epochs: int | None = None,
    scratch_lr: float | None = None,
) -> dict:
    """Few-shot calibration of a saved student on ``labelled``; writes under ``out`` (module docstring).

    ``epochs`` and ``lr`` are the fine-tuning recipe of the calibrated student.
    The scratch branch trains with ``scratch_epochs``/``scratch_lr``, by default
    the recipe a run trains a branch with (TrainConfig's defaults): a new branch
    gets the training it is known to need, not a recipe made for nudging a
    trained one, so that a gain of ``calibrated`` is not an under-trained rival's.
    Returns the summary written to ``summary.json``.
    """
    from students.student import Student
    from w2s.config import StudentConfig, TrainConfig
    from w2s.metrics import plcc, srcc
    from w2s.train import default_accelerator, score_items, train_head

    if splits < 1:
        raise W2SError(f"--splits must be at least 1, got {splits}")
    _check_share(fraction, len(labelled), "usable videos")  # before any embedding: fail fast
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    student_dir = Path(student_dir)
    student = Student.from_pretrained(student_dir)

    videos, features, base = embed_set(student, labelled, out)
    n = len(videos)
    n_train, n_test = _check_share(fraction, n, "readable videos")
    ids = videos.id.to_numpy(dtype=object)
    index = {k: i for i, k in enumerate(ids)}
    target = videos.target.to_numpy(dtype=np.float64)
    base32 = base.float()  # Student.score adds its base in float32: the same sums, the same numbers

    head_shape = StudentConfig(backbone=student.backbone_name, hidden=student.head.hidden, dropout=student.head.dropout)
    default = TrainConfig()
    scratch_epochs = default.epochs if scratch_epochs is None else scratch_epochs
    scratch_lr = default.lr if scratch_lr is None else scratch_lr
    accelerator = default_accelerator()
    zero_shot = score_items(student.head, features, base32)

    rows, scores, first = [], [], None
    for k in range(splits):
        # one generator per (seed, split): a split's videos do not depend on how many splits are asked for
        rng = np.random.default_rng([seed, k])
        order = rng.permutation(n)
        train_rows, test_rows = np.sort(order[:n_train]), np.sort(order[n_train:])
        pairs = mos_pairs(ids[train_rows], target[train_rows], seed=seed * 1000 + k)
        tune, scratch = recipe(len(pairs), epochs, lr), recipe(len(pairs), scratch_epochs, scratch_lr)
        calibrated, _ = train_head(features, pairs, index, head_shape, tune, seed + k, accelerator,
                                   base=base32, init=student.head)
        # the same base as the student's: a new branch on top of the same backbone score and prior
        fresh, _ = train_head(features, pairs, index, head_shape, scratch, seed + k, accelerator, base=base32,
                              blocks=student.head.blocks)
        predictions = {
            "zero_shot": zero_shot,
            "calibrated": score_items(calibrated, features, base32),
            "scratch": score_items(fresh, features, base32),
        }
        for model, pred in predictions.items():
            p, t = pred[test_rows], target[test_rows]
            rows.append({"split": k, "model": model, "srcc": srcc(p, t), "plcc": plcc(p, t),
                         "n_train": n_train, "n_test": n_test})
            scores.append(pd.DataFrame({"split": k, "model": model, "id": ids[test_rows], "score": p, "target": t}))
        log.info("split %d: SRCC zero-shot %.3f, calibrated %.3f, scratch %.3f (%d pairs)", k,
                 *(r["srcc"] for r in rows[-3:]), len(pairs))
        if k == 0:
            first = (calibrated, train_rows, predictions["calibrated"], tune)

    table = pd.DataFrame(rows, columns=SPLIT_COLUMNS)
    io.write_parquet(table, out / "splits.parquet")
    io.write_parquet(pd.concat(scores, ignore_index=True).astype({"id": str}), out / "scores.parquet")
    save_calibrated(student, student_dir, first, ids, features, base32, out / "student", labelled, fraction, seed)

    summary = {
        "dataset": labelled.name,
        "student": str(student_dir),
        "fraction": fraction,
        "splits": splits,
        "seed": seed,
        "n_videos": len(labelled) + len(labelled.failures),
        "n_used": n,
        "n_left_out": len(labelled) + len(labelled.failures) - n,
        "n_train": n_train,
        "n_test": n_test,
        "calibrated": {"epochs": tune.epochs, "lr": tune.lr, "batch_size": tune.batch_size},
        "scratch": {"epochs": scratch.epochs, "lr": scratch.lr, "batch_size": scratch.batch_size},
        "models": summarise(table),
    }
    io.write_json(summary, out / "summary.json")
    for model, s in summary["models"].items():
        log.info("%s on %s (%d splits of %d/%d): SRCC %.3f [%.3f, %.3f], PLCC %.3f [%.3f, %.3f]", model,
                 labelled.name, splits, n_train, n_test, s["srcc_median"], s["srcc_q25"], s["srcc_q75"],
                 s["plcc_median"], s["plcc_q25"], s["plcc_q75"])
    return summary


def save_calibrated(student, student_dir: Path, first, ids: np.ndarray, features: torch.Tensor, base: torch.Tensor,
                    path: Path, labelled: LabelledSet, fraction: float, seed: int) -> None:
    """Save split 0's calibrated student beside the original's perception, prior and frame sampling,
    and check that it reloads to the same scores."""
    from students.student import Student
    from teachers.student_teacher import StudentTeacher

    head, train_rows, scores, tune = first
    meta = dict(student.meta)  # sampler and max_side: `w2s score` reads frames as the student was trained
    meta.update(
        calibrated_from=str(student_dir),
        dataset=labelled.name,
        fraction=fraction,
        split=0,
        seed=seed,
        n_train=len(train_rows),
        train_ids=[str(i) for i in ids[train_rows]],
        calibration={"epochs": tune.epochs, "lr": tune.lr, "batch_size": tune.batch_size},
        # the 0-100 scale of `w2s score`, refitted: the original's quantiles are of its own training items
        # under its old branch. These are of every embedded video of the set (their features only, no MOS)
        train_score_quantiles=np.quantile(scores, np.linspace(0, 1, 101)).tolist(),
        train_score_quantiles_of=f"the {len(scores)} videos of {labelled.name}",
    )
    Student(student.backbone_name, head, meta=meta, backbone_options=student.backbone_options,
            extras=student.extras, prior=student.prior).save_pretrained(path)
    # loaded as a `student:` teacher loads it; scoring cached features builds no backbone, so this costs little
    reloaded = StudentTeacher(str(path)).student
    again = reloaded.score_features(features, base).numpy()
    if not np.allclose(again, scores, rtol=0, atol=1e-5):
        raise W2SError(f"the calibrated student saved to {path} does not reload to the scores it was measured with")
    log.info("calibrated student (split 0, %d training videos) saved to %s", len(train_rows), path)
