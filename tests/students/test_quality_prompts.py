"""The Q-CLIP branch: its score by hand, what trains, zero-shot CLIP at the start, save and reload."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from students.quality_prompts import QualityPromptHead
from students.student import Student
from w2s.config import StudentConfig, TrainConfig
from w2s.run.train import train_head


def test_score_is_the_softmax_expectation_of_the_prompt_similarities_by_hand():
    # prompts along the first five axes: with the adapter at its start (up = 0, the identity on
    # normalised vectors) the similarities are the image embedding's normalised coordinates
    head = QualityPromptHead(6, 6, hidden=3, dropout=0.0, logit_scale=2.0, prompts=torch.eye(6)[:5] * 7.0)
    image = torch.tensor([[3.0, 0, 0, 0, 0, 0],  # excellent only: sims (1, 0, 0, 0, 0)
                          [0, 0, 0, 0, 0, 1.0],  # orthogonal to every prompt: sims all 0
                          [0, 0, 0, 1.0, 1.0, 0]])  # poor and bad at 1/sqrt(2)
    e2, r = math.exp(2.0), math.exp(2.0 / math.sqrt(2))
    want = [(5 * e2 + 4 + 3 + 2 + 1) / (e2 + 4), 3.0, (5 + 4 + 3 + 2 * r + r) / (3 + 2 * r)]
    assert head(image).tolist() == pytest.approx(want, abs=1e-6)
    logits = head.level_logits(image)
    assert logits[0].tolist() == pytest.approx([2.0, 0, 0, 0, 0], abs=1e-6)


def test_only_the_prompts_and_the_adapter_train_and_extras_enter_the_image_side():
    head = QualityPromptHead(16 + 12, 16, hidden=4, dropout=0.0, logit_scale=10.0, prompts=torch.randn(5, 16))
    names = {n for n, p in head.named_parameters() if p.requires_grad}
    assert names == {"prompts", "down.weight", "down.bias", "up.weight", "up.bias", "extra.weight"}
    assert sum(p.numel() for p in head.parameters()) == 5 * 16 + (16 * 4 + 4) + (4 * 16 + 16) + 12 * 4
    assert {n for n, _ in head.named_buffers()} == {"feat_mean", "feat_std", "logit_scale", "level_weights"}

    x = torch.randn(8, 28)
    head.set_normalization(x)
    # CLIP's part is compared by angle and left as it is; the appended statistics are standardised
    assert torch.equal(head.feat_mean[:16], torch.zeros(16)) and torch.equal(head.feat_std[:16], torch.ones(16))
    assert torch.allclose(head.standardize(x)[:, 16:].mean(0), torch.zeros(12), atol=1e-5)
    # the untrained adapter is the identity: extras change nothing yet ...
    other = x.clone()
    other[:, 16:] += 5.0
    assert torch.allclose(head(x), head(other))
    # ... and once the up-projection has learnt something they move the image side
    torch.nn.init.normal_(head.up.weight)
    assert not torch.allclose(head(x), head(other))


def _pairs(order: np.ndarray, ids: list[str], n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(ids), n), rng.integers(0, len(ids), n)
    keep = a != b
    a, b = a[keep], b[keep]
    return pd.DataFrame({"a": [ids[i] for i in a], "b": [ids[i] for i in b],
                         "p": (order[a] > order[b]).astype(float) * 0.9 + 0.05, "source": "teacher"})


def test_train_head_fits_pairs_through_the_prompts_and_round_trips(tiny_clip, tmp_path, monkeypatch):
    """train_head builds the branch from `student.head`, starts from CLIP's prompts, learns an
    order CLIP's zero-shot score does not know, and a saved student scores identically."""
    from students import clip_backbone

    torch.manual_seed(0)
    n = 40
    features = torch.cat([torch.nn.functional.normalize(torch.randn(n, 16), dim=1), torch.randn(n, 12)], dim=1)
    truth = features[:, 0].numpy() + features[:, 20].numpy()  # one CLIP direction, one appended statistic
    ids = [f"v{i}" for i in range(n)]
    pairs = _pairs(truth, ids, 2000)
    student = StudentConfig(backbone=f"clip:{tiny_clip}", head="quality_prompts", hidden=8, dropout=0.0, motion=True)
    head, history = train_head(features, pairs, {v: i for i, v in enumerate(ids)}, student,
                               TrainConfig(epochs=30, batch_size=256, lr=1e-2), seed=0)
    assert isinstance(head, QualityPromptHead) and head.extra_dim == 12
    assert history[-1] < history[0]
    scores = head(features).detach().numpy()
    assert ((scores >= 1) & (scores <= 5)).all()
    from scipy.stats import spearmanr

    assert spearmanr(scores, truth).statistic > 0.8
    init, scale = clip_backbone.quality_prompt_init(str(tiny_clip))
    assert head.logit_scale.item() == pytest.approx(scale)
    assert not torch.allclose(head.prompts, torch.nn.functional.normalize(init, dim=-1))  # they trained

    Student(student.backbone, head, meta={"round": 0}, extras=student.extras()).save_pretrained(tmp_path / "s")
    loaded = Student.from_pretrained(tmp_path / "s")
    assert isinstance(loaded.head, QualityPromptHead) and loaded.head.config() == head.config()
    assert torch.equal(loaded.score_features(features), Student(student.backbone, head).score_features(features))
    # rebuilding the head needs no CLIP folder: the prompts are in model.safetensors
    monkeypatch.setattr(clip_backbone, "quality_prompt_init", lambda *_: pytest.fail("reloaded from the CLIP folder"))
    Student.from_pretrained(tmp_path / "s")
