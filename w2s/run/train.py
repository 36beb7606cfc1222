"""Train the calibration branch on cached features, through Accelerate.

The backbone is frozen and its features were computed in the label stage, so
one step is a lookup of both sides of each pair in the feature matrix and a
forward of the small head: an epoch over tens of thousands of pairs takes
seconds on a CPU. The same loop runs on one GPU or several unchanged
(``accelerate launch``), and learns the same head at any number of processes:
``train.batch_size`` is the batch of the whole launch, each step takes the same
pairs in the same order as one process does, and each process adds the loss of
its part of them (:func:`run_epoch`), so the averaged gradient is one process's
up to the order of float sums.
"""

from __future__ import annotations

import copy
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from students.calibration import CalibrationHead
from students.heads import build_head
from w2s.config import StudentConfig, TrainConfig
from w2s.core import io
from w2s.core.errors import W2SError
from w2s.run.losses import LOSSES, confidence_penalty

log = logging.getLogger(__name__)


def default_accelerator() -> Accelerator:
    """The Accelerator of a plain call: the GPU where there is one (a launch brings its own)."""
    return Accelerator(cpu=not torch.cuda.is_available())


# memory bounds for large pools (a 200k-video pool's features are tens of GB, memory-mapped:
# w2s.run.label.load_labels); below them the arithmetic is what it always was
RESIDENT_BYTES = 1 << 30  # the standardised feature matrix goes to the device whole up to this size
SCORE_CHUNK = 8192  # items scored per forward (with their standardised copies: about 0.4 GB at 4128 features)
STATISTICS_ROWS = 20_000  # items the input standardisation's statistics are taken from, at most


def statistics_rows(rows: np.ndarray, seed: int) -> np.ndarray:
    """The items whose features standardise the head's input: all of ``rows`` up to
    :data:`STATISTICS_ROWS`, above that a seeded sample of that many (a mean and a spread
    per feature need no more, and the copy stays about 0.3 GB at 4128 features)."""
    rows = np.asarray(rows)
    if len(rows) <= STATISTICS_ROWS:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, STATISTICS_ROWS, replace=False))


def share_group(source: str) -> str:
    """The group a pair source's loss share is set for: every hard_* source is `hard`."""
    return "hard" if source.startswith("hard_") else source


def loss_weights(sources: pd.Series, shares: dict | None) -> np.ndarray:
    """Per-pair loss weights that give each source group its share of the loss (``train.shares``).

    A batch is a random sample of all pairs, so a group's expected part of the
    loss is its pair count times its weight: the weight is the share over the
    count (scaled so the mean weight is 1). ``None``: every pair weighs 1.
    """
    if shares is None:
        return np.ones(len(sources))
    groups = sources.map(share_group)
    counts = groups.value_counts()
    w = groups.map(lambda g: shares.get(g, 0.0) / counts[g]).to_numpy(dtype=np.float64)
    if w.sum() <= 0:
        raise W2SError(f"train.shares {shares} gives no weight to any of the pair sources {sorted(counts.index)}")
    return w * len(w) / w.sum()


def pair_tensors(pairs: pd.DataFrame, index: dict[str, int], train: TrainConfig) -> tuple[torch.Tensor, ...]:
    """(ia, ib, p, weight) tensors; the weights give each source its share of the loss."""
    ia = torch.tensor(pairs.a.map(index).to_numpy(), dtype=torch.long)
    ib = torch.tensor(pairs.b.map(index).to_numpy(), dtype=torch.long)
    p = torch.tensor(pairs.p.to_numpy(), dtype=torch.float32)
    w = torch.as_tensor(loss_weights(pairs.source, train.shares), dtype=torch.float32)
    return ia, ib, p, w


def train_head(
    features: torch.Tensor,
    pairs: pd.DataFrame,
    index: dict[str, int],
    student: StudentConfig,
    train: TrainConfig,
    seed: int,
    accelerator: Accelerator | None = None,
    norm_rows: np.ndarray | None = None,
    base: torch.Tensor | None = None,
    init: CalibrationHead | None = None,
    blocks: list | None = None,
    checkpoint: str | Path | None = None,
) -> tuple[CalibrationHead, list[float]]:
    """A calibration head fitted to ``pairs``; returns it (unwrapped, on CPU) and the epoch losses.

    ``norm_rows`` selects the items whose feature statistics standardise the
    head's input (default: every item any pair touches). ``base`` (N,) is the
    backbone's own score of each item (a VLM's level-word score): the pairs
    are fitted by ``base + head(features)``, so the head learns a residual.

    ``init`` fine-tunes an existing head instead of building a new one: training
    starts from a copy of it (the caller's head is left untouched), and it keeps
    its input standardisation, so ``norm_rows`` and ``student``'s shape are unused.
    ``blocks`` are the head's block scales for features of several backbones (:mod:`students.multi`).

    ``checkpoint`` is a folder for the training state, saved every ``train.checkpoint_every``
    epochs; if it holds one, training resumes from it and ends with the weights an
    uninterrupted run gets. The caller removes it once it has saved the result.
    """
    accelerator = accelerator or default_accelerator()
    checkpoint = Path(checkpoint) if checkpoint is not None and train.checkpoint_every > 0 else None
    if checkpoint is not None:
        # save_state/load_state cover every model, optimizer and schedule prepared on the accelerator
        # so far: leave only this training's there, so a resumed run (which prepared fewer heads
        # before this one) finds its own state in the checkpoint
        accelerator.free_memory()
    set_seed(seed)  # before the head is built: its init and the shuffle order follow the seed
    head = initial_head(features, pairs, index, student, seed, norm_rows, init, blocks)
    state = prepare(accelerator, head, features, pairs, index, train, seed, base)
    if checkpoint is not None and checkpoint.is_dir():
        resume(accelerator, state, checkpoint, train)
    state.head.train()
    for epoch in range(state.epochs_done, train.epochs):
        state.history.append(run_epoch(accelerator, state, train))
        state.epochs_done = epoch + 1
        log.debug("epoch %d loss %.4f", epoch, state.history[-1])
        # every checkpoint_every epochs, but not after the last: the caller saves the result itself
        if checkpoint is not None and (epoch + 1) % train.checkpoint_every == 0 and epoch + 1 < train.epochs:
            _save_checkpoint(accelerator, checkpoint, epoch + 1, state.history, state.order_rng)
    head = accelerator.unwrap_model(state.head).cpu()
    head.eval()
    return head, state.history


def initial_head(
    features: torch.Tensor,
    pairs: pd.DataFrame,
    index: dict[str, int],
    student: StudentConfig,
    seed: int,
    norm_rows: np.ndarray | None,
    init: CalibrationHead | None,
    blocks: list | None,
) -> CalibrationHead:
    """The head training starts from: a trainable copy of ``init``, else a new one (drawn from the
    global RNG, seeded by the caller) whose input standardisation is fitted to ``norm_rows``."""
    if init is not None:
        if init.dim != features.shape[1]:
            raise W2SError(f"the head to fine-tune takes {init.dim} features, but the items have {features.shape[1]}")
        # its standardisation is part of what it learnt: the statistics of the items it was trained on,
        # which its weights assume; refitting them to a few new items would move every input under it
        return copy.deepcopy(init).cpu().requires_grad_(True)
    head = build_head(features.shape[1], student, blocks)  # student.head: mlp or quality_prompts
    if norm_rows is None:
        norm_rows = np.unique(np.concatenate([pairs.a.map(index).to_numpy(), pairs.b.map(index).to_numpy()]))
    head.set_normalization(features[torch.as_tensor(statistics_rows(norm_rows, seed))])
    return head


@dataclass
class Training:
    """What the epoch loop works on: the head, optimizer and schedule as Accelerate prepared them,
    the pairs, where each step's inputs come from, and how far training has got."""

    head: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    pairs: tuple[torch.Tensor, ...]  # (ia, ib, p, weight), on the CPU: a step moves its batch only
    features: torch.Tensor  # as given (maybe memory-mapped)
    resident: torch.Tensor | None  # every item standardised, on the device; None: gathered per step
    standardize: Callable[[torch.Tensor], torch.Tensor]
    base: torch.Tensor  # the backbone's own score of each item, on the device
    loss_fn: Callable
    steps_per_epoch: int
    order_rng: torch.Generator  # the pair order of every epoch
    epochs_done: int = 0
    history: list[float] = field(default_factory=list)  # the mean loss per pair of each epoch done

    def inputs(self, rows: torch.Tensor, device) -> torch.Tensor:
        """The standardised features of the items ``rows``, on ``device``."""
        if self.resident is not None:
            return self.resident[rows]
        return self.standardize(self.features[rows.cpu()].float()).to(device)


def prepare(
    accelerator: Accelerator,
    head: CalibrationHead,
    features: torch.Tensor,
    pairs: pd.DataFrame,
    index: dict[str, int],
    train: TrainConfig,
    seed: int,
    base: torch.Tensor | None,
) -> Training:
    """The training state at epoch 0: pair tensors, optimizer and schedule, prepared on the accelerator."""
    ia, ib, p, w = pair_tensors(pairs, index, train)
    optimizer = torch.optim.AdamW(head.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    # batch_size pairs per step whatever the number of processes (they share each batch), so the
    # steps, the schedule and the epochs are those of one process; batches are sliced from tensors
    # directly, because a DataLoader over a TensorDataset collates pairs one by one, which costs
    # more than the whole step of a head this small
    steps_per_epoch = math.ceil(len(p) / train.batch_size)
    # one cycle over the whole run: warm-up over its first 10 % of steps, then annealing down
    # (at least one step: OneCycleLR refuses zero, which no pairs or no epochs would give)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train.lr, total_steps=max(train.epochs * steps_per_epoch, 1), pct_start=0.1
    )
    head, optimizer, scheduler = accelerator.prepare(head, optimizer, scheduler)
    # one schedule step per optimizer step: Accelerate's default steps it once per process, for a
    # batch that grows with their number (which ran the one cycle N times too fast under N processes)
    scheduler.split_batches = True
    standardize = accelerator.unwrap_model(head).standardize
    # the standardised matrix on the device when it fits the budget (one gather per step); else each
    # step gathers its rows from the (memory-mapped) features and standardises them: the same
    # numbers, element by element, in memory bounded by the batch
    fits = features.shape[0] * features.shape[1] * 4 <= RESIDENT_BYTES  # float32 bytes
    resident = standardize(features.float()).to(accelerator.device) if fits else None
    base = (torch.zeros(len(features)) if base is None else torch.as_tensor(base).float()).to(accelerator.device)
    return Training(head, optimizer, scheduler, (ia, ib, p, w), features, resident, standardize, base,
                    LOSSES[train.loss], steps_per_epoch, torch.Generator().manual_seed(seed))


def resume(accelerator: Accelerator, state: Training, checkpoint: Path, train: TrainConfig) -> None:
    """Bring ``state`` to where the checkpoint in ``checkpoint`` left it (weights, optimizer,
    schedule, every random state, epochs done and their losses)."""
    state.epochs_done, state.history = _load_checkpoint(accelerator, checkpoint, state.order_rng)
    log.info("training resumed at epoch %d of %d from %s", state.epochs_done, train.epochs, checkpoint)


def run_epoch(accelerator: Accelerator, state: Training, train: TrainConfig) -> float:
    """One epoch: the pairs in a fresh seeded order, one optimizer step per batch of them; returns
    the epoch's mean loss per pair (of every process's parts together)."""
    perm = torch.randperm(len(state.pairs[2]), generator=state.order_rng)
    world = accelerator.num_processes
    total, count = 0.0, 0
    for step in range(state.steps_per_epoch):
        batch = perm[step * train.batch_size : (step + 1) * train.batch_size]  # every process: the same batch
        part = batch_loss(accelerator, state, train, batch)
        # DDP averages the processes' gradients: times their number, the parts' gradients add up to the
        # gradient of the batch's loss (and times 1 the single process's loss is what it always was)
        accelerator.backward(part * world)
        state.optimizer.step()
        state.scheduler.step()
        state.optimizer.zero_grad()
        total += part.item() * len(batch)
        count += len(batch)
    if world > 1:  # the other processes' parts of the batches' losses
        total = accelerator.reduce(torch.tensor([total], dtype=torch.float64, device=accelerator.device), "sum").item()
    return total / max(count, 1)


def shard(n: int, rank: int, world: int) -> slice:
    """Process ``rank``'s part of a batch of ``n`` pairs: contiguous, the first ``n % world`` parts one
    pair longer (a part may be empty: its process then adds nothing, but still steps with the others)."""
    size, extra = divmod(n, world)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (rank < extra))


def batch_loss(accelerator: Accelerator, state: Training, train: TrainConfig, batch: torch.Tensor) -> torch.Tensor:
    """This process's part of the loss of the pairs ``batch`` indexes (each pair weighted by its
    source's share): the weighted sum over its part of the pairs, over the weight of the whole batch,
    so that the parts of all processes add up to the batch's weighted mean."""
    ia, ib, p, w = (t[batch].to(accelerator.device) for t in state.pairs)
    # one forward over the distinct items of the whole batch (fewer rows than 2 x pairs), in every
    # process: the head is small, and so each process draws the dropout masks one process draws and
    # leaves the random state where one process leaves it
    uniq, where = torch.unique(torch.cat([ia, ib]), return_inverse=True)
    x = state.inputs(uniq, accelerator.device)
    both = (state.head(x, standardized=True) + state.base[uniq])[where]
    mine = shard(len(batch), accelerator.process_index, accelerator.num_processes)
    s_a, s_b = both[: len(ia)][mine], both[len(ia) :][mine]
    per_pair = state.loss_fn(s_a, s_b, p[mine])
    if train.confidence_weight > 0:
        per_pair = per_pair + train.confidence_weight * confidence_penalty(s_a, s_b)
    return (per_pair * w[mine]).sum() / w.sum()


# ----------------------------------------------------------------------------- checkpoints

PROGRESS = "progress.json"  # epochs done and their losses
# the generator of the pair order, and the global ones dropout draws from, of the main process: every
# process holds the same states (one seed, the same draws), so any number of processes resumes from
# them; Accelerate's own copies are per process, and a process it finds none for goes on silently
ORDER_RNG = "order_rng.safetensors"


def random_states(order_rng: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The states :data:`ORDER_RNG` keeps: the pair order's, the CPU's and the process's GPU's."""
    states = {"state": order_rng.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_random_states(saved: dict[str, torch.Tensor], order_rng: torch.Generator, device: torch.device) -> None:
    """Restore what :func:`random_states` took (a checkpoint without the global ones keeps Accelerate's)."""
    order_rng.set_state(saved["state"])
    if "torch" in saved:
        torch.set_rng_state(saved["torch"])
    if "cuda" in saved and device.type == "cuda":
        torch.cuda.set_rng_state(saved["cuda"], device)


def _save_checkpoint(accelerator: Accelerator, folder: Path, epochs_done: int, history: list, order_rng) -> None:
    """The training state after ``epochs_done`` epochs, in ``folder``, atomically: every process
    writes into one temp folder (Accelerate's save_state: the head, optimizer and schedule from the
    main process, each process's random states), which the main process then renames."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # a leftover of a killed save
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        io.write_json({"epochs_done": epochs_done, "history": history}, tmp / PROGRESS)
        io.write_tensors(random_states(order_rng, accelerator.device), tmp / ORDER_RNG)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        io.swap_in(tmp, folder)
    accelerator.wait_for_everyone()


def _load_checkpoint(accelerator: Accelerator, folder: Path, order_rng) -> tuple[int, list]:
    """Restore what :func:`_save_checkpoint` saved; returns (epochs done, their losses)."""
    try:
        progress = io.read_json(folder / PROGRESS)
        accelerator.load_state(str(folder))
        set_random_states(io.read_tensors(folder / ORDER_RNG), order_rng, accelerator.device)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise W2SError(f"{folder} is not a training checkpoint this training can resume ({type(e).__name__}: {e}); "
                       "delete that folder to train this round from the start") from e
    return int(progress["epochs_done"]), list(progress["history"])


def score_items(head: CalibrationHead, features: torch.Tensor, base: torch.Tensor | None = None,
                rows: np.ndarray | None = None) -> np.ndarray:
    """``base + head(features)`` per item (base 0 when the backbone has no score of its own);
    ``rows`` scores those items only. Chunks of :data:`SCORE_CHUNK` rows keep memory bounded
    on a large (memory-mapped) pool; a pool of one chunk is scored in one call."""
    head.eval()
    rows = np.arange(len(features)) if rows is None else np.asarray(rows)
    base = None if base is None else torch.as_tensor(base).float()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), SCORE_CHUNK):
            idx = torch.as_tensor(rows[start : start + SCORE_CHUNK])
            scores = head(features[idx].float())
            if base is not None:
                scores = scores + base[idx]
            out.append(scores.numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


