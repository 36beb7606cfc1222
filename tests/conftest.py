"""Shared fixtures: real frames and a tiny real-content pool, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_pools(tmp_path_factory) -> dict[str, Path]:
    """The embedded train and eval sample pools (real content from installed packages)."""
    from w2s.media.samples import build_samples

    root = tmp_path_factory.mktemp("samples")
    build_samples(root / "train", split="train", seed=0, progress=False)
    build_samples(root / "eval", split="eval", seed=0, progress=False)
    return {"train": root / "train", "eval": root / "eval"}


@pytest.fixture(scope="session")
def backbone():
    from students.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0()


TINY_CONFIG = """
name: {name}
output_dir: {out}
seed: 0
rounds: 2
teachers: [pyiqa:piqe, pyiqa:entropy]
distortions: {{blur: [1.0, 3.0], darken: [0.6, 0.3], noise: [0.02, 0.08]}}
pool: {{source: {train}, limit: 4, max_side: 96, sampler: {{name: uniform, num_frames: 2}}}}
pairs: {{teacher_pairs: 400}}
hard_cases: {{folds: 2, teacher: 40, candidates: 400}}
train: {{epochs: 4, batch_size: 128}}
eval:
  source: {eval}
  limit: 2
  ood: {{contrast: [0.7, 0.4, 0.2], h265: [30, 51]}}
"""


@pytest.fixture
def tiny_config(tmp_path, sample_pools):
    """Write a 2-round config over a few real clips; returns a factory (name -> path)."""

    def make(name: str = "tiny", **extra) -> Path:
        text = TINY_CONFIG.format(name=name, out=tmp_path / "runs", train=sample_pools["train"], eval=sample_pools["eval"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path

    return make
