"""An experiment costs what is new: a run's label stage takes what another run already computed.

``w2s run NEW.yaml --reuse runs/OLD`` labels NEW's pool item by item as always, but an item's teacher
score, VMAF or features are copied from OLD's shard of the same video when OLD computed them the same
way: the same pool, frame sampler, size and seed (so the same frames and the same variant params), the
same teacher with the same options, the same backbone and extras. Only what is missing is computed: a
new teacher's scores, a new family's variants, a new backbone's features; a video with nothing missing
is not even decoded. The result is the label stage NEW would compute alone (a test checks it), so
reuse is a cache, not a setting: it is not part of the run's config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from w2s.core import io
from w2s.core.errors import ConfigError
from w2s.core.names import score_column

log = logging.getLogger(__name__)

# what identifies an item and its variant in a shard row (always carried over with a reused value)
KEYS = ("item_id", "video_id", "family", "level", "params")


@dataclass
class Reuse:
    """What one split's label stage may take from another run's shards of the same split."""

    shards: Path
    columns: set[str] = field(default_factory=set)  # teacher score columns (and vmaf) computed the same way
    features: bool = False  # the same backbone and extras: the features and the base score carry over

    def known(self, video_id: str) -> dict[str, tuple[dict, torch.Tensor | None]]:
        """item id -> (the reusable part of its row, its features or None), for one video; {} when the
        other run has no shard of it (not in its pool, or it failed there)."""
        path = self.shards / f"{video_id}.parquet"
        if not path.is_file():
            return {}
        rows = pd.read_parquet(path)
        feats = io.read_tensors(self.shards / f"{video_id}.safetensors")["features"] if self.features else None
        keep = set(KEYS) | self.columns | ({"base"} if self.features else set())
        return {
            row["item_id"]: ({k: v for k, v in row.items() if k in keep}, None if feats is None else feats[i])
            for i, row in enumerate(rows.to_dict("records"))
        }


# config keys that change every item's frames or variant params: the other run must agree on them
_SAME = ("seed", "pool.max_side", "pool.sampler")


def _get(config, dotted: str):
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def plan_reuse(other_run: Path, config, split: str) -> Reuse | None:
    """What ``config``'s ``split`` (``label`` or ``evalset``) can take from the run folder ``other_run``;
    a ConfigError when the two runs cannot share items at all; None when the other run has no such split."""
    from w2s.config import load_run_config
    from w2s.run.folder import RunFolder

    folder = RunFolder(Path(other_run))
    if not folder.config.is_file():
        raise ConfigError(f"--reuse {other_run}: not a run folder (no {folder.config.name}); pass a folder `w2s run` made")
    other = load_run_config(other_run)
    for key in _SAME:
        if _get(other, key) != _get(config, key):
            raise ConfigError(f"--reuse {other_run}: its {key} is {_get(other, key)!r}, this run's {_get(config, key)!r}; "
                              "the items would differ, so nothing can be reused (make them equal, or drop --reuse)")
    source = "pool.source" if split == "label" else "eval.source"
    if _source(other, source) != _source(config, source):
        log.info("--reuse %s: its %s differs; its %s split is not reused", other_run, source, split)
        return None
    shards = getattr(folder, split) / "shards"
    if not shards.is_dir():
        return None
    mine, theirs = dict(config.teacher_specs()), dict(other.teacher_specs())
    columns = {score_column(n) for n, o in mine.items() if n in theirs and _scoring(theirs[n]) == _scoring(o)}
    if split == "evalset" and other.eval.vmaf and config.eval.vmaf:
        columns.add("vmaf")
    same_backbone = all(_get(other, k) == _get(config, k) for k in ("student.backbone", "student.backbone_options")) \
        and other.student.extras() == config.student.extras()
    reuse = Reuse(shards, columns, same_backbone)
    log.info("--reuse %s (%s): %d teacher column(s)%s", other_run, split, len(columns),
             ", and the features" if same_backbone else "; the features are computed again (another backbone)")
    return reuse


def _scoring(options: dict) -> dict:
    """A teacher's options that change its scores (``variant_share`` only says which items it scores:
    a score it did compute is the same)."""
    return {k: v for k, v in options.items() if k != "variant_share"}


def _source(config, key: str) -> str:
    """A pool source as the two runs can compare it: ``samples:SPLIT`` (built from the seed), or a resolved path."""
    source = _get(config, key)
    if source.startswith("samples:") or source == "none":
        return source
    return str(Path(source).resolve())
