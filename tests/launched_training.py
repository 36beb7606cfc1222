"""The trainings tests/test_distributed.py compares across world sizes, run as one plain process or
under `accelerate launch` (``... -m tests.launched_training OUT [CHECKPOINTS [DIE_AFTER]]``). Each
case's head, its scores of the synthetic pool's items and its epoch losses go to
``OUT/case_K.safetensors`` (written by the main process).

With ``DIE_AFTER`` the main process SIGKILLs itself right after saving that epoch's checkpoint of
each case (in ``CHECKPOINTS/case_K``): a kill anywhere between two checkpoints resumes from the same one.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import torch

from tests.test_train import synthetic
from w2s.config import StudentConfig, TrainConfig

# dropout on (its masks must be those of one process), pair sources with set shares and the confidence
# term (the weighted mean of a batch split across processes); 2000 pairs: batches of 333 end with a
# batch of 2 (one pair per process), of 1999 with a batch of 1 (a process with no pair of it)
SHARES = {"teacher": 0.5, "fr": 0.2, "distortion": 0.2, "hard": 0.1}
CASES = [
    (StudentConfig(hidden=16, dropout=0.3), TrainConfig(epochs=4, batch_size=333, checkpoint_every=1, shares=SHARES,
                                                        confidence_weight=0.05)),
    (StudentConfig(hidden=16, dropout=0.1), TrainConfig(epochs=4, batch_size=1999, checkpoint_every=1, lr=3e-3)),
]


def pool():
    """The synthetic pool of tests/test_train.py, its pairs from four sources."""
    feats, quality, pairs, index = synthetic()
    sources = ["teacher", "fr", "distortion", "hard_teacher"] * (len(pairs) // 4)
    return feats, quality, pairs.assign(source=sources), index


def train_cases(out: Path, checkpoints: Path | None = None, die_after: int | None = None, accelerator=None) -> None:
    import w2s.run.train as train_module
    from w2s.core import io
    from w2s.run.train import default_accelerator, score_items, train_head

    accelerator = accelerator or default_accelerator()
    if die_after is not None:
        real = train_module._save_checkpoint

        def save_then_die(acc, folder, done, *rest):
            real(acc, folder, done, *rest)
            if done == die_after and acc.is_main_process:
                os.kill(os.getpid(), signal.SIGKILL)

        train_module._save_checkpoint = save_then_die
    feats, _, pairs, index = pool()
    for k, (student, train) in enumerate(CASES):
        checkpoint = None if checkpoints is None else checkpoints / f"case_{k}"
        head, history = train_head(feats, pairs, index, student, train, seed=3, accelerator=accelerator,
                                   checkpoint=checkpoint)
        if accelerator.is_main_process:
            tensors = {f"head.{name}": t.contiguous() for name, t in head.state_dict().items()}
            tensors["scores"] = torch.as_tensor(score_items(head, feats))
            tensors["history"] = torch.tensor(history, dtype=torch.float64)
            io.write_tensors(tensors, out / f"case_{k}.safetensors")
        accelerator.wait_for_everyone()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # "training resumed at epoch ..." on stderr
    args = sys.argv[1:]
    train_cases(Path(args[0]), Path(args[1]) if len(args) > 1 else None, int(args[2]) if len(args) > 2 else None)
