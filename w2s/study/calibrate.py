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

- ``features.safetensors`` (:mod:`w2s.study.features`): each readable video's features and base, with the
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

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr

from w2s.api import check_device
from w2s.core import io
from w2s.core.errors import W2SError
from w2s.core.scale import fit_scale
from w2s.labelled.set import LabelledSet
from w2s.run.pairs import draw_pairs, standardize
from w2s.study.features import embed_set

log = logging.getLogger(__name__)

MODELS = ("zero_shot", "calibrated", "scratch")
SPLIT_COLUMNS = ["split", "model", "srcc", "plcc", "n_train", "n_test"]
MAX_PAIRS = 50_000  # all pairs of up to ~316 training videos; beyond, a seeded sample of them

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


def n_train_of(fraction: float, n: int) -> int:
    """Training videos of a split: ``fraction`` of the usable ones, rounded."""
    return round(fraction * n)


def _check_one_process() -> None:
    """Refuse a launch of several processes (``accelerate launch``, torchrun, MPI): calibration runs in
    one. Its trainings take seconds on cached features, and its embedding and its files are not
    shared out: every process would embed the whole set and write the same files."""
    from accelerate.utils import get_int_from_env

    n = get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)
    if n > 1:
        raise W2SError(f"w2s calibrate runs in one process, but it was launched as one of {n}: run it without "
                       "`accelerate launch` (its trainings take seconds; the GPU, if any, is used by --device)")


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
    """Pairs of the training videos labelled from their MOS as teacher pairs are (w2s.run.pairs):
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


@dataclass
class Split:
    """One split's outcome: its rows of ``splits.parquet`` and ``scores.parquet``, and its calibrated branch."""

    rows: list[dict]
    scores: pd.DataFrame
    head: object  # the calibrated CalibrationHead
    train_rows: np.ndarray
    calibrated: np.ndarray  # the calibrated branch's score of every embedded video
    tune: object  # the TrainConfig the calibrated branch trained with
    scratch: object  # the TrainConfig the scratch branch trained with


@dataclass
class Fits:
    """What every split trains and scores on: the embedded videos, the saved branch and the recipes."""

    head: object  # the saved student's CalibrationHead
    shape: object  # the StudentConfig a new branch of the same shape is built from
    ids: np.ndarray
    target: np.ndarray
    features: torch.Tensor
    base: torch.Tensor  # float32: Student.score adds its base in float32; the same sums, the same numbers
    tune: tuple[int, float]  # (epochs, lr) of the fine-tuning
    scratch: tuple[int, float]  # (epochs, lr) of the branch trained from scratch
    accelerator: object

    @classmethod
    def of(cls, student, videos: pd.DataFrame, features: torch.Tensor, base: torch.Tensor, tune: tuple[int, float],
           scratch: tuple[int | None, float | None]) -> Fits:
        """``scratch`` left None trains as a run trains a branch (TrainConfig's defaults)."""
        from w2s.config import StudentConfig, TrainConfig
        from w2s.run.train import default_accelerator

        default = TrainConfig()
        scratch = (default.epochs if scratch[0] is None else scratch[0], default.lr if scratch[1] is None else scratch[1])
        head = student.head
        shape = StudentConfig(backbone=student.backbone_name, hidden=head.hidden, dropout=head.dropout)
        return cls(head, shape, videos.id.to_numpy(dtype=object), videos.target.to_numpy(dtype=np.float64), features,
                   base.float(), tune, scratch, default_accelerator())

    @property
    def index(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.ids)}

    def split(self, k: int, seed: int, n_train: int, zero_shot: np.ndarray) -> Split:
        """Split ``k``: a seeded share of ``n_train`` videos, the two branches trained on its MOS pairs, and
        the three models measured on the rest."""
        from w2s.eval.metrics import plcc, srcc
        from w2s.run.train import score_items, train_head

        # one generator per (seed, split): a split's videos do not depend on how many splits are asked for
        order = np.random.default_rng([seed, k]).permutation(len(self.ids))
        train_rows, test_rows = np.sort(order[:n_train]), np.sort(order[n_train:])
        pairs = mos_pairs(self.ids[train_rows], self.target[train_rows], seed=seed * 1000 + k)
        tune, scratch = recipe(len(pairs), *self.tune), recipe(len(pairs), *self.scratch)
        index = self.index
        calibrated, _ = train_head(self.features, pairs, index, self.shape, tune, seed + k, self.accelerator,
                                   base=self.base, init=self.head)
        # the same base as the student's: a new branch on top of the same backbone score and prior
        fresh, _ = train_head(self.features, pairs, index, self.shape, scratch, seed + k, self.accelerator,
                              base=self.base, blocks=self.head.blocks)
        predictions = {"zero_shot": zero_shot, "calibrated": score_items(calibrated, self.features, self.base),
                       "scratch": score_items(fresh, self.features, self.base)}
        rows, scores = [], []
        for model, pred in predictions.items():
            p, t = pred[test_rows], self.target[test_rows]
            rows.append({"split": k, "model": model, "srcc": srcc(p, t), "plcc": plcc(p, t),
                         "n_train": n_train, "n_test": len(test_rows)})
            scores.append(pd.DataFrame({"split": k, "model": model, "id": self.ids[test_rows], "score": p, "target": t}))
        log.info("split %d: SRCC zero-shot %.3f, calibrated %.3f, scratch %.3f (%d pairs)", k,
                 *(r["srcc"] for r in rows), len(pairs))
        return Split(rows, pd.concat(scores, ignore_index=True), calibrated, train_rows, predictions["calibrated"],
                     tune, scratch)


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
    device: str = "auto",
) -> dict:
    """Few-shot calibration of a saved student on ``labelled``; writes under ``out`` (module docstring).

    ``epochs`` and ``lr`` are the fine-tuning recipe of the calibrated student.
    The scratch branch trains with ``scratch_epochs``/``scratch_lr``, by default
    the recipe a run trains a branch with (TrainConfig's defaults): a new branch
    gets the training it is known to need, not a recipe made for nudging a
    trained one, so that a gain of ``calibrated`` is not an under-trained rival's.
    The student embeds the videos on ``device`` (``auto``: the GPU when torch sees one); the branches
    train where a run's do.
    Returns the summary written to ``summary.json``.
    """
    from students.student import Student
    from teachers import make_teacher
    from w2s.run.train import score_items

    _check_one_process()
    if splits < 1:
        raise W2SError(f"--splits must be at least 1, got {splits}")
    _check_share(fraction, len(labelled), "usable videos")  # before any embedding: fail fast
    device = check_device(device)
    out, student_dir = Path(out), Path(student_dir)
    out.mkdir(parents=True, exist_ok=True)
    student = Student.from_pretrained(student_dir, make_teacher=make_teacher)
    student.place(device)

    videos, features, base = embed_set(student, labelled, out)
    n_train, _ = _check_share(fraction, len(videos), "readable videos")
    fits = Fits.of(student, videos, features, base, (epochs, lr), (scratch_epochs, scratch_lr))
    zero_shot = score_items(student.head, fits.features, fits.base)
    done = [fits.split(k, seed, n_train, zero_shot) for k in range(splits)]

    table = pd.DataFrame([row for split in done for row in split.rows], columns=SPLIT_COLUMNS)
    io.write_parquet(table, out / "splits.parquet")
    io.write_parquet(pd.concat([s.scores for s in done], ignore_index=True).astype({"id": str}), out / "scores.parquet")
    save_calibrated(student, student_dir, done[0], fits, out / "student", labelled, fraction, seed)
    summary = _summary(labelled, student_dir, fraction, splits, seed, len(videos), done[0], table)
    io.write_json(summary, out / "summary.json")
    for model, s in summary["models"].items():
        log.info("%s on %s (%d splits of %d/%d): SRCC %.3f [%.3f, %.3f], PLCC %.3f [%.3f, %.3f]", model,
                 labelled.name, splits, summary["n_train"], summary["n_test"], s["srcc_median"], s["srcc_q25"],
                 s["srcc_q75"], s["plcc_median"], s["plcc_q25"], s["plcc_q75"])
    return summary


def _summary(labelled: LabelledSet, student_dir: Path, fraction: float, splits: int, seed: int, n_used: int,
             first: Split, table: pd.DataFrame) -> dict:
    """What ``summary.json`` holds: the set, the share, both recipes and :func:`summarise` of the splits."""
    n_videos = len(labelled) + len(labelled.failures)
    n_train = len(first.train_rows)
    return {
        "dataset": labelled.name,
        "student": str(student_dir),
        "fraction": fraction,
        "splits": splits,
        "seed": seed,
        "n_videos": n_videos,
        "n_used": n_used,
        "n_left_out": n_videos - n_used,
        "n_train": n_train,
        "n_test": n_used - n_train,
        "calibrated": {"epochs": first.tune.epochs, "lr": first.tune.lr, "batch_size": first.tune.batch_size},
        "scratch": {"epochs": first.scratch.epochs, "lr": first.scratch.lr, "batch_size": first.scratch.batch_size},
        "models": summarise(table),
    }


def save_calibrated(student, student_dir: Path, first: Split, fits: Fits, path: Path, labelled: LabelledSet,
                    fraction: float, seed: int) -> None:
    """Save split 0's calibrated student beside the original's perception, prior and frame sampling,
    and check that it reloads to the same scores."""
    from students.student import Student
    from teachers.student_teacher import StudentTeacher

    scores, tune = first.calibrated, first.tune
    meta = dict(student.meta)  # sampler and max_side: `w2s score` reads frames as the student was trained
    meta.update(
        calibrated_from=str(student_dir),
        dataset=labelled.name,
        fraction=fraction,
        split=0,
        seed=seed,
        n_train=len(first.train_rows),
        train_ids=[str(i) for i in fits.ids[first.train_rows]],
        calibration={"epochs": tune.epochs, "lr": tune.lr, "batch_size": tune.batch_size},
        # the 0-100 scale of `w2s score` (w2s.core.scale), refitted: the original's is of its own training
        # pool under its old branch. This one is of every embedded video of the set, each an ordinary
        # (clean) video: 50 at the set's median video (their features only, no MOS)
        score_scale=fit_scale(scores, np.ones(len(scores), dtype=bool), f"the {len(scores)} videos of {labelled.name}"),
    )
    meta.pop("train_score_quantiles", None)  # an older original's percentiles: not this branch's
    Student(student.backbone_name, first.head, meta=meta, backbone_options=student.backbone_options,
            extras=student.extras, prior=student.prior).save_pretrained(path)
    # loaded as a `student:` teacher loads it; scoring cached features builds no backbone, so this costs little
    reloaded = StudentTeacher(str(path)).student
    again = reloaded.score_features(fits.features, fits.base).numpy()
    if not np.allclose(again, scores, rtol=0, atol=1e-5):
        raise W2SError(f"the calibrated student saved to {path} does not reload to the scores it was measured with")
    log.info("calibrated student (split 0, %d training videos) saved to %s", len(first.train_rows), path)
