"""Training killed mid-way resumes from its last checkpoint (Accelerate's save_state) to the same weights."""

import pytest
import torch

import w2s.run.train as train_module
from tests.test_train import synthetic
from w2s.config import StudentConfig, TrainConfig
from w2s.core.errors import W2SError
from w2s.core.io import read_tensors, write_tensors
from w2s.run.train import train_head

# dropout on: the masks come from the global RNG, which the checkpoint must carry over too
STUDENT = StudentConfig(hidden=16, dropout=0.3)
TRAIN = TrainConfig(epochs=5, batch_size=128, checkpoint_every=1)


class Killed(Exception):
    pass


def die_after_saving(monkeypatch, epochs: int) -> list:
    """The training 'dies' right after its checkpoint of ``epochs`` epochs is saved."""
    saved, real = [], train_module._save_checkpoint

    def save_then_die(accelerator, folder, done, history, order_rng):
        real(accelerator, folder, done, history, order_rng)
        saved.append(done)
        if done == epochs:
            raise Killed

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    return saved


def equal_heads(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_training_killed_after_two_epochs_resumes_to_the_same_weights(tmp_path, monkeypatch):
    feats, _, pairs, index = synthetic()
    whole, whole_history = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3)

    folder = tmp_path / "train_state"
    saved = die_after_saving(monkeypatch, 2)
    with pytest.raises(Killed):
        train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert saved == [1, 2] and (folder / "progress.json").exists()
    torch.manual_seed(123)  # whatever ran in between: the checkpoint's random states count, not these

    resumed_at = []
    real_load = train_module._load_checkpoint
    monkeypatch.setattr(train_module, "_load_checkpoint", lambda *a: resumed_at.append(real_load(*a)) or resumed_at[-1])
    saved.clear()
    head, history = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert resumed_at[0][0] == 2 and saved == [3, 4]  # epochs 3-5 only; none after the last
    assert history == whole_history
    assert equal_heads(head, whole)


def test_without_the_random_states_the_weights_differ(tmp_path, monkeypatch):
    """The check above is sharp: resuming with the wrong dropout masks gives other weights."""
    feats, _, pairs, index = synthetic()
    whole, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3)
    folder = tmp_path / "train_state"
    die_after_saving(monkeypatch, 2)
    with pytest.raises(Killed):
        train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    for f in folder.glob("random_states_*.pkl"):
        f.unlink()  # load_state then restores no random state
    order = train_module.ORDER_RNG  # nor does the training: only the pair order's generator is left
    write_tensors({"state": read_tensors(folder / order)["state"]}, folder / order)
    monkeypatch.setattr(train_module, "_save_checkpoint", lambda *a: None)
    head, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert not equal_heads(head, whole)


def test_the_checkpoints_own_random_states_resume_a_process_accelerate_kept_none_for(tmp_path, monkeypatch):
    """Accelerate keeps one random-state file per process, and a process that finds none of its own
    (a checkpoint of fewer processes than resume it) goes on silently with whatever it holds. The
    checkpoint's own copy (the main process's: every process holds the same) restores it."""
    feats, _, pairs, index = synthetic()
    whole, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3)
    folder = tmp_path / "train_state"
    die_after_saving(monkeypatch, 2)
    with pytest.raises(Killed):
        train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    for f in folder.glob("random_states_*.pkl"):
        f.unlink()
    monkeypatch.setattr(train_module, "_save_checkpoint", lambda *a: None)
    torch.manual_seed(123)
    head, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert equal_heads(head, whole)


def test_a_half_saved_checkpoint_is_not_resumed_from(tmp_path, monkeypatch):
    feats, _, pairs, index = synthetic()
    whole, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3)
    folder = tmp_path / "train_state"

    def die_while_saving(accelerator, folder, *_):
        accelerator.save_state(str(folder.with_name(f".{folder.name}.tmp")))
        raise Killed  # before the rename: only the hidden temp folder exists

    monkeypatch.setattr(train_module, "_save_checkpoint", die_while_saving)
    with pytest.raises(Killed):
        train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert not folder.exists() and (tmp_path / ".train_state.tmp").is_dir()
    monkeypatch.setattr(train_module, "_save_checkpoint", lambda *a: None)
    head, _ = train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
    assert equal_heads(head, whole)  # trained from the start


def test_a_broken_checkpoint_is_a_clear_error(tmp_path):
    feats, _, pairs, index = synthetic()
    folder = tmp_path / "train_state"
    folder.mkdir()
    (folder / "progress.json").write_text('{"epochs_done": 2, "history": [1, 1]}')
    with pytest.raises(W2SError, match="train_state is not a training checkpoint .* delete that folder"):
        train_head(feats, pairs, index, STUDENT, TRAIN, seed=3, checkpoint=folder)
