"""Pairwise learn-to-rank losses.

Every loss takes the scores of the two sides of each pair, ``s_a`` and ``s_b``,
and ``p``, the target probability that ``a`` is better than ``b``, and returns
one value per pair (the trainer weights and averages them). The model's
own probability is Thurstone's ``q = Phi((s_a - s_b) / sqrt(2))``: two scores
with unit-variance Gaussian noise each.
"""

from __future__ import annotations

import math

import torch

_SQRT2 = math.sqrt(2.0)


def thurstone_prob(diff: torch.Tensor) -> torch.Tensor:
    """``Phi(diff / sqrt 2)``: probability that the first of two scores is larger."""
    return 0.5 * (1.0 + torch.erf(diff / 2.0))  # Phi(d/sqrt2) = (1 + erf(d/2)) / 2


def fidelity_loss(s_a: torch.Tensor, s_b: torch.Tensor, p: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Fidelity loss ``1 - sqrt(p q) - sqrt((1-p)(1-q))`` per pair.

    Bounded in [0, 1] and zero when q == p, so a confident wrong teacher pair
    costs at most 1 (a cross-entropy would cost without bound).
    """
    q = thurstone_prob(s_a - s_b)
    # eps inside the sqrt: its gradient is infinite at 0
    return 1.0 - torch.sqrt(p * q + eps) - torch.sqrt((1.0 - p) * (1.0 - q) + eps)


def ranknet_loss(s_a: torch.Tensor, s_b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Logistic (RankNet) loss: cross-entropy of ``p`` against ``sigmoid(s_a - s_b)``."""
    return torch.nn.functional.binary_cross_entropy_with_logits(s_a - s_b, p, reduction="none")


def margin_loss(s_a: torch.Tensor, s_b: torch.Tensor, p: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Hinge on the score gap in the direction ``p`` prefers; pairs at p == 0.5 are ignored."""
    sign = torch.sign(p - 0.5)
    return torch.relu(margin - sign * (s_a - s_b)) * sign.abs()


# one per word of the config's `train.loss` (w2s.config.LossName, where the words are defined and
# documented); tests/test_config.py checks the two agree
LOSSES = {"fidelity": fidelity_loss, "ranknet": ranknet_loss, "margin": margin_loss}


def confidence_penalty(s_a: torch.Tensor, s_b: torch.Tensor) -> torch.Tensor:
    """Binary entropy of the model's pair probabilities, per pair.

    Added with a small weight it pushes the student to commit on pairs the
    teachers leave near 0.5 (an entropy-minimisation regulariser).
    """
    q = thurstone_prob(s_a - s_b).clamp(1e-6, 1 - 1e-6)
    return -(q * q.log() + (1 - q) * (1 - q).log())
