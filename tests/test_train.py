import numpy as np
import pandas as pd
import torch

from w2s.config import StudentConfig, TrainConfig
from w2s.eval.metrics import srcc
from w2s.run.hard_cases import content_folds
from w2s.run.pairs import draw_pairs
from w2s.run.train import score_items, train_head


def synthetic(n=120, dim=16, seed=0):
    """Items whose quality is one hidden direction of their features; pairs labelled by it."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, dim, generator=g)
    quality = feats[:, 3] - 0.5 * feats[:, 7]
    ia, ib = draw_pairs(n, 2000, seed)
    p = torch.sigmoid(3 * (quality[ia] - quality[ib])).numpy()
    ids = [f"v{i}" for i in range(n)]
    pairs = pd.DataFrame({"a": np.array(ids)[ia], "b": np.array(ids)[ib], "p": p, "source": "teacher"})
    return feats, quality.numpy(), pairs, {k: i for i, k in enumerate(ids)}


def test_head_learns_a_ranking_from_pairs():
    feats, quality, pairs, index = synthetic()
    head, history = train_head(feats, pairs, index, StudentConfig(hidden=32, dropout=0.0), TrainConfig(epochs=30, batch_size=256, lr=3e-3), seed=0)
    assert history[-1] < history[0]
    assert srcc(score_items(head, feats), quality) > 0.95


def test_training_is_seeded():
    feats, _, pairs, index = synthetic()
    cfg = TrainConfig(epochs=3, batch_size=128)
    a, _ = train_head(feats, pairs, index, StudentConfig(hidden=8), cfg, seed=5)
    b, _ = train_head(feats, pairs, index, StudentConfig(hidden=8), cfg, seed=5)
    c, _ = train_head(feats, pairs, index, StudentConfig(hidden=8), cfg, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_content_folds_never_split_a_content():
    vids = np.array(["a", "a", "b", "c", "c", "d", "e"])
    folds = content_folds(vids, 2, seed=0)
    # one fold per content (a mapping: a content cannot be split), every content, both folds used
    assert set(folds) == set("abcde") and set(folds.values()) == {0, 1}
    # dealt round-robin after a shuffle: 5 contents into 2 folds are 3 + 2, never 4 + 1
    assert sorted(np.bincount(list(folds.values()))) == [2, 3]
    assert folds == content_folds(vids, 2, seed=0)  # seeded
    assert any(content_folds(vids, 2, seed=s) != folds for s in range(1, 6))  # and the seed is used
