"""A round's comparative student (``student.kind: comparative``): trained on the round's pairs,
on pixels regenerated from each item's stored params, through Accelerate.

The label stage keeps no pixels, only each item's source video (the manifest) and its
distortion params, so :class:`ItemPixels` decodes the source again with the run's
sampler and re-applies the distortion: the same frames the teachers scored. The
anchors are K pool items spread over the range of the round's pseudo-label
consensus (:func:`pick_anchors`); their frames and scores go into the student's folder.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict

import numpy as np
import pandas as pd
import torch

from students.comparative import (
    ComparativeStudent,
    ComparativeVLM,
    comparative_loss,
    frames_uint8,
    level_of,
    scale_quantiles,
)
from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.core.progress import progress

log = logging.getLogger(__name__)


class ItemPixels:
    """An item's frames, regenerated: its source decoded as the label stage did, its distortion re-applied
    from the stored params. Keeps the last ``cache`` items' frames (uint8) and the last source clips."""

    def __init__(self, items: pd.DataFrame, manifest: pd.DataFrame, sampler: dict, max_side: int,
                 distortions: dict, frames: int, cache: int = 256):
        self.items = items.set_index("item_id")
        self.paths = manifest.set_index("id").path
        self.sampler, self.max_side, self.distortions, self.frames = sampler, max_side, distortions, frames
        self.cache = cache
        self._frames: OrderedDict = OrderedDict()
        self._sources: OrderedDict = OrderedDict()

    def source(self, video_id: str) -> Clip:
        from w2s.media.decode import read_clip

        if video_id not in self._sources:
            if video_id not in self.paths.index:
                raise W2SError(f"pool video {video_id!r} is not in the run's manifest: the label stage and the "
                               "manifest disagree; delete the run folder's label/ and manifest.parquet and rerun")
            self._sources[video_id] = read_clip(self.paths[video_id], self.sampler, max_side=self.max_side or None,
                                                clip_id=video_id)
            while len(self._sources) > 8:
                self._sources.popitem(last=False)
        return self._sources[video_id]

    def clip(self, item_id: str) -> Clip:
        row = self.items.loc[item_id]
        clip = self.source(row.video_id)
        if row.family:
            clip = self.distortions[row.family].apply(clip, json.loads(row.params))
        return clip

    def __call__(self, item_id: str) -> tuple[torch.Tensor, float]:
        """(T, H, W, 3) uint8 frames of the item, and their frame rate."""
        if item_id not in self._frames:
            clip = self.clip(item_id)
            self._frames[item_id] = (frames_uint8(clip, self.frames), float(clip.fps))
            while len(self._frames) > self.cache:
                self._frames.popitem(last=False)
        self._frames.move_to_end(item_id)
        return self._frames[item_id]


def pick_anchors(scores: np.ndarray, k: int) -> list[int]:
    """``k`` distinct rows whose scores lie nearest the 0, 1/(k-1), ..., 1 quantiles of ``scores``
    (NaNs skipped): anchors from the lowest score to the highest, evenly in rank."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) < k:
        raise W2SError(f"student.comparative.anchors is {k}, but only {len(finite)} pool items have a consensus score")
    order = finite[np.argsort(scores[finite], kind="stable")]
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, k)).astype(int))
    return order[picks].tolist()


def train_comparative(pool, pairs: pd.DataFrame, consensus: np.ndarray, config, k: int, accelerator,
                      pixels: ItemPixels) -> ComparativeStudent:
    """The round-k comparative student: LoRA adapters trained on ``student.comparative.pairs`` of the
    round's pairs (one pair per step, the same steps at any number of processes: :func:`fit_adapters`),
    and K anchors from the pool scored by ``consensus``."""
    c, student = config.student.comparative, config.student
    seed = config.seed + k
    rng = np.random.default_rng(seed)
    chosen = pairs.iloc[np.sort(rng.choice(len(pairs), min(c.pairs, len(pairs)), replace=False))]
    options = dict(student.backbone_options)
    torch.manual_seed(seed)  # the LoRA matrices' initialisation
    model = ComparativeVLM(student.backbone.removeprefix("vlm:"), device=str(accelerator.device),
                           dtype=options.get("dtype", "auto"),
                           lora={"rank": c.lora_rank, "alpha": c.lora_alpha, "targets": list(c.lora_targets)},
                           trust_remote_code=bool(options.get("trust_remote_code", False)))
    history, n_pairs = fit_adapters(model, chosen, pixels, c, k, accelerator)
    rows = pick_anchors(np.asarray(consensus, dtype=np.float64), c.anchors)
    anchor_ids = pool.items.item_id.iloc[rows].tolist()
    anchor_frames, anchor_fps = zip(*(pixels(i) for i in anchor_ids))
    scores = np.asarray(consensus, dtype=np.float64)[rows]
    total = sum(p.numel() for p in model.model.parameters())
    saved = {
        "kind": "comparative",
        "base_model": student.backbone.removeprefix("vlm:"),
        "dtype": options.get("dtype", "auto"),
        "frames": c.frames,
        "thresholds": list(c.thresholds),
        "levels": ["superior", "better", "similar", "worse", "inferior"],
        "anchors": {"item_ids": anchor_ids, "scores": scores.tolist(), "fps": list(anchor_fps),
                    "score_name": "round pseudo-label consensus"},
        "lora": {"rank": c.lora_rank, "alpha": c.lora_alpha, "targets": list(c.lora_targets)},
        "meta": {
            "round": k, "run": config.name, "sampler": config.pool.sampler, "max_side": config.pool.max_side,
            "trainable_share": model.trainable_parameters() / max(total, 1),
            "train_score_quantiles": scale_quantiles(scores),
            # pairs trained on (one per step, whatever the number of processes), and the steps' losses
            "pairs": n_pairs, "confidence_weight": c.confidence_weight, "history": history,
        },
    }
    log.info("round %d: comparative student trained on %d pairs; anchors %s", k, n_pairs, anchor_ids)
    return ComparativeStudent(saved, list(anchor_frames), model)


def fit_adapters(model: ComparativeVLM, chosen: pd.DataFrame, pixels: ItemPixels, c, k: int,
                 accelerator) -> tuple[list[dict], int]:
    """Train the LoRA adapters one pair per step; (the loss history, pairs trained on). The model is
    left unwrapped and in eval mode.

    A step is one pair, which processes cannot split: under several processes each trains every
    pair, in the same order, and the averaged gradient is the one a single process gets, so the
    adapters are one process's (the extra processes add no speed here; they share the scoring)."""
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=c.lr)
    net, optimizer = accelerator.prepare(model.model, optimizer)
    if accelerator.num_processes > 1 and accelerator.is_main_process:
        log.warning("comparative student r%d: its steps are one pair each, which %d processes cannot split: "
                    "each process trains every pair, so the adapters are those of one process", k,
                    accelerator.num_processes)
    history = []
    net.train()
    rows = list(chosen.itertuples())
    for step, row in enumerate(progress(rows, f"comparative student r{k}", "pair",
                                        enabled=accelerator.is_main_process)):
        (first, fps_a), (second, fps_b) = pixels(row.a), pixels(row.b)
        target = level_of(1.0 - float(row.p), c.thresholds)  # p = P(a better); a is shown first
        batch = model.pair_inputs(first, second, (fps_a, fps_b), target=target)
        labels = batch.pop("labels")
        loss, ce, entropy, weight = comparative_loss(net(**batch).logits, labels, c.confidence_weight, step / len(rows))
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        history.append({"loss": loss.item(), "ce": ce.item(), "entropy": entropy.item(), "confidence_weight": weight})
    model.model = accelerator.unwrap_model(net)
    model.model.eval()
    del net, optimizer
    accelerator.free_memory()  # the accelerator's own references to the wrapped model and optimiser
    return history, len(rows)


def score_comparative_items(student: ComparativeStudent, pixels: ItemPixels, item_ids, desc: str = "comparative",
                accelerator=None) -> np.ndarray:
    """The student's score of each item, on its regenerated pixels (K pair passes each). With an
    ``accelerator`` each process scores every world_size-th item and every process gets all scores."""
    ids = list(item_ids)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = [(i, student.score(pixels.clip(ids[i])))
            for i in progress(range(rank, len(ids), world), desc, "item", enabled=rank == 0)]
    if world > 1:
        from accelerate.utils import gather_object

        mine = gather_object(mine)
    scores = np.full(len(ids), np.nan)
    for i, score in mine:
        scores[i] = score
    return scores


def train_round_comparative(ctx, pool, pairs: pd.DataFrame, panel, k: int) -> ComparativeStudent:
    """The round's comparative student, anchored on the round's consensus (``ctx``: the run's
    :class:`w2s.run.context.Context`)."""
    from distortions import make_distortions

    config = ctx.config
    ctx.release_models()  # the label stage's frozen VLM would otherwise sit beside the one being trained
    pixels = ItemPixels(pool.items, pd.read_parquet(ctx.folder.manifest("label")), config.pool.sampler,
                        config.pool.max_side, make_distortions(config.training_families()),
                        config.student.comparative.frames)
    return train_comparative(pool, pairs, panel.consensus(), config, k, ctx.accelerator, pixels)


def score_comparative(ctx, evalset, folder) -> np.ndarray:
    """The saved comparative student's scores of the held-out items, on their regenerated pixels
    (K pair passes each: every process scores its share, and all get every score)."""
    from distortions import make_distortions

    config = ctx.config
    student = ComparativeStudent.from_pretrained(folder)
    student.place(ctx.device)
    pixels = ItemPixels(evalset.items, pd.read_parquet(ctx.folder.manifest("evalset")), config.pool.sampler,
                        config.pool.max_side, make_distortions(config.eval_families()), student.frames)
    return score_comparative_items(student, pixels, evalset.items.item_id, f"comparative {folder.parent.name} eval",
                                   ctx.accelerator)
