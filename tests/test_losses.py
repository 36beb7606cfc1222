import math

import pytest
import torch
from scipy.stats import norm

from w2s.run.losses import (
    confidence_penalty,
    fidelity_loss,
    margin_loss,
    ranknet_loss,
    thurstone_prob,
)


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


def test_thurstone_prob_is_phi_of_diff_over_sqrt2():
    for d in (-2.0, 0.0, 0.3, 1.7):
        assert float(thurstone_prob(t(d))) == pytest.approx(norm.cdf(d / math.sqrt(2)))


def test_fidelity_hand_computed():
    # equal scores: q = 0.5; p = 0.5 -> 1 - 2*sqrt(0.25) = 0
    assert float(fidelity_loss(t(1.0), t(1.0), t(0.5))) == pytest.approx(0.0, abs=1e-6)
    # gap sqrt2 -> q = Phi(1) = 0.841345; p = 1 -> 1 - sqrt(q)
    loss = float(fidelity_loss(t(math.sqrt(2)), t(0.0), t(1.0)))
    assert loss == pytest.approx(1 - math.sqrt(0.8413447), abs=1e-5)
    # a confident wrong order costs close to the maximum of 1
    assert float(fidelity_loss(t(-10.0), t(10.0), t(1.0))) == pytest.approx(1.0, abs=1e-3)


def test_fidelity_gradient_points_the_right_way():
    s_a = torch.zeros(1, requires_grad=True)
    fidelity_loss(s_a, torch.zeros(1), torch.ones(1)).sum().backward()
    assert s_a.grad.item() < 0  # raising s_a lowers the loss when a should win


def test_ranknet_and_margin_hand_computed():
    assert float(ranknet_loss(t(1.0), t(0.0), t(1.0))) == pytest.approx(math.log(1 + math.exp(-1)))
    assert float(margin_loss(t(0.2), t(0.0), t(1.0))) == pytest.approx(0.3)  # 0.5 - 0.2
    assert float(margin_loss(t(0.2), t(0.0), t(0.0))) == pytest.approx(0.7)  # b should win
    assert float(margin_loss(t(0.2), t(0.0), t(0.5))) == 0.0  # no preference, no loss


def test_confidence_penalty_is_largest_at_a_tie():
    assert float(confidence_penalty(t(0.0), t(0.0))) == pytest.approx(math.log(2))
    # gap 5: q = Phi(5 / sqrt2) = 0.9997965; binary entropy -(q ln q + (1-q) ln(1-q)) = 0.0019330
    q = norm.cdf(5 / math.sqrt(2))
    assert float(confidence_penalty(t(5.0), t(0.0))) == pytest.approx(-(q * math.log(q) + (1 - q) * math.log(1 - q)))
    assert float(confidence_penalty(t(5.0), t(0.0))) == pytest.approx(0.0019330, abs=1e-7)
    assert float(confidence_penalty(t(0.0), t(5.0))) == pytest.approx(0.0019330, abs=1e-7)  # symmetric
