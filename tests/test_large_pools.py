"""A large pool's features stay on disk: streamed into one file, memory-mapped, gathered per batch.

A 200k-video pool's features are tens of GB (README, "Scale"), so the label stage writes them
shard by shard, a run maps the file instead of reading it, and training and scoring touch a
batch's rows at a time. These tests shrink the memory bounds to a few rows to drive the large-pool
paths on a small pool, and check they give the numbers of the in-memory paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from w2s.config import StudentConfig, TrainConfig
from w2s.core import io
from w2s.run import train


def test_rows_written_block_by_block_read_back_as_one_tensor(tmp_path):
    full = torch.randn(23, 5)
    path = tmp_path / "features.safetensors"
    io.write_rows("features", (full[i : i + 4] for i in range(0, 23, 4)), 23, 5, path)
    assert torch.equal(load_file(str(path))["features"], full)  # safetensors' own reader agrees
    mapped = io.map_tensor(path, "features")
    assert torch.equal(mapped, full)
    mapped[0] = 0.0  # copy-on-write: the file keeps its data
    assert torch.equal(io.map_tensor(path, "features"), full)
    assert not list(tmp_path.glob(".*tmp"))


def test_a_short_or_misshaped_stream_leaves_no_file(tmp_path):
    path = tmp_path / "features.safetensors"
    with pytest.raises(ValueError, match="3 rows written, 4 announced"):
        io.write_rows("features", iter([torch.zeros(3, 2)]), 4, 2, path)
    with pytest.raises(ValueError, match=r"a block of shape \(2, 3\)"):
        io.write_rows("features", iter([torch.zeros(2, 3)]), 2, 2, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_map_tensor_names_a_missing_tensor(tmp_path):
    path = tmp_path / "f.safetensors"
    io.write_tensors({"a": torch.zeros(2, 2)}, path)
    with pytest.raises(KeyError, match="holds no tensor 'features'"):
        io.map_tensor(path, "features")


def _problem(n=60, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=g) * torch.linspace(0.5, 3.0, dim) + 2.0
    truth = features[:, :3].sum(1)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, 400), rng.integers(0, n, 400)
    ids = [f"i{k}" for k in range(n)]
    pairs = pd.DataFrame({"a": [ids[k] for k in a], "b": [ids[k] for k in b],
                          "p": (truth[a] > truth[b]).float().numpy() * 0.8 + 0.1, "source": "teacher"})
    return features, pairs, {x: k for k, x in enumerate(ids)}, truth


def _fit(features, pairs, index):
    student, cfg = StudentConfig(hidden=16, dropout=0.1), TrainConfig(epochs=20, batch_size=64, lr=3e-3, checkpoint_every=0)
    head, losses = train.train_head(features, pairs, index, student, cfg, seed=3)
    return head, losses


def test_streamed_batches_train_the_same_weights_as_a_resident_matrix(monkeypatch):
    features, pairs, index, truth = _problem()
    resident, losses = _fit(features, pairs, index)
    monkeypatch.setattr(train, "RESIDENT_BYTES", 0)  # every step gathers and standardises its rows
    streamed, streamed_losses = _fit(features, pairs, index)
    assert losses == streamed_losses
    for (name, x), (_, y) in zip(resident.state_dict().items(), streamed.state_dict().items()):
        assert torch.equal(x, y), name
    from scipy.stats import spearmanr

    assert spearmanr(train.score_items(streamed, features), truth.numpy())[0] > 0.8  # it learned the order


def test_scores_in_chunks_match_one_call_and_rows_select_items(monkeypatch):
    features, pairs, index, _ = _problem()
    head, _ = _fit(features, pairs, index)
    base = torch.linspace(-1, 1, len(features))
    whole = train.score_items(head, features, base)
    assert whole.shape == (60,)
    monkeypatch.setattr(train, "SCORE_CHUNK", 7)
    np.testing.assert_allclose(train.score_items(head, features, base), whole, rtol=0, atol=1e-5)
    rows = np.array([5, 0, 41])
    np.testing.assert_allclose(train.score_items(head, features, base, rows=rows), whole[rows], rtol=0, atol=1e-5)


def test_statistics_come_from_a_seeded_sample_above_the_cap(monkeypatch):
    rows = np.arange(100, 200)
    assert train.statistics_rows(rows, seed=1) is rows  # under the cap: every row, as always
    monkeypatch.setattr(train, "STATISTICS_ROWS", 10)
    sample = train.statistics_rows(rows, seed=1)
    assert len(sample) == 10 and len(set(sample)) == 10 and set(sample) <= set(rows)
    assert list(sample) == sorted(sample)
    assert np.array_equal(sample, train.statistics_rows(rows, seed=1))  # a rerun draws the same
