import numpy as np
import pandas as pd
import torch

from w2s.config import StudentConfig, TrainConfig
from w2s.eval.metrics import srcc
from w2s.run.hard_cases import content_folds
from w2s.run.pairs import draw_pairs
from w2s.run.train import batch_loss, default_accelerator, initial_head, prepare, score_items, shard, train_head


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


class Pretend:
    """Process ``rank`` of ``world`` as train.py sees it (rank, world size), over a real one-process
    accelerator for everything else: what each process of a launch computes, one after another."""

    def __init__(self, accelerator, rank: int, world: int):
        self.real, self.process_index, self.num_processes = accelerator, rank, world
        self.is_main_process = rank == 0

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_batch_is_shared_out_in_contiguous_parts_longest_first():
    assert [shard(7, r, 3) for r in range(3)] == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert [shard(1, r, 3) for r in range(3)] == [slice(0, 1), slice(1, 1), slice(1, 1)]  # two empty parts
    assert shard(512, 0, 1) == slice(0, 512)  # one process: the whole batch


def test_the_processes_parts_add_up_to_one_processs_loss_and_gradient():
    """Each process's part of a batch's loss, with the dropout masks every process draws alike, adds
    up across processes to the loss one process computes, and so do their gradients (what DDP then
    averages, each part times the number of processes): uneven parts, empty ones, source shares,
    the confidence term and dropout."""
    feats, _, pairs, index = synthetic()
    pairs = pairs.assign(source=["teacher", "fr", "distortion", "hard_teacher"] * (len(pairs) // 4))
    train = TrainConfig(batch_size=7, confidence_weight=0.1, shares={"teacher": 0.5, "fr": 0.3, "hard": 0.2})
    accelerator = default_accelerator()
    head = initial_head(feats, pairs, index, StudentConfig(hidden=16, dropout=0.3), 0, None, None, None)
    state = prepare(accelerator, head, feats, pairs, index, train, 0, None)
    state.head.train()

    def part(batch, rank, world):
        torch.manual_seed(11)  # every process holds the same random state, so draws the same masks
        state.head.zero_grad()
        loss = batch_loss(Pretend(accelerator, rank, world), state, train, batch)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in state.head.parameters()]

    for batch in (torch.arange(100, 107), torch.tensor([5])):  # 7 pairs; 1 pair (empty parts beyond 1)
        whole, grads = part(batch, 0, 1)
        for world in (2, 3):
            parts = [part(batch, r, world) for r in range(world)]
            assert abs(sum(loss for loss, _ in parts) - whole) < 1e-6 * abs(whole)
            for k, g in enumerate(grads):
                torch.testing.assert_close(sum(p[1][k] for p in parts), g, rtol=1e-5, atol=1e-8)
    # and without the same masks it would not add up: dropout is on and matters
    torch.manual_seed(12)
    state.head.zero_grad()
    other = batch_loss(Pretend(accelerator, 0, 1), state, train, torch.arange(100, 107)).item()
    assert abs(other - part(torch.arange(100, 107), 0, 1)[0]) > 1e-4
