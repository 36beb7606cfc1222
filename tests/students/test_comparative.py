"""The comparative student (students/comparative.py): levels, loss, Thurstone fit, the LoRA VLM on a
tiny random Qwen2-VL, its folder, and a missing file failing at once."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from students.comparative import (
    ADAPTER_NAME,
    ANCHORS_NAME,
    DEFAULT_THRESHOLDS,
    LEVELS,
    ComparativeStudent,
    ComparativeVLM,
    comparative_loss,
    dynamic_weight,
    level_of,
    masked_entropy,
    preference,
    scale_quantiles,
    thurstone_map,
)
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError


def test_levels_from_the_pair_probability():
    # (q = P(second better), level): each threshold's edge on the side the docstring says
    cases = [(1.0, 0), (0.9, 0), (0.89, 1), (0.6, 1), (0.59, 2), (0.5, 2), (0.41, 2), (0.4, 3), (0.11, 3),
             (0.1, 4), (0.0, 4)]
    assert [level_of(q) for q, _ in cases] == [lvl for _, lvl in cases]
    # the run's default distortion pairs: one level apart (p = 0.85) better/worse, two apart (0.98) superior/inferior
    assert LEVELS[level_of(0.85)] == "better" and LEVELS[level_of(1 - 0.85)] == "worse"
    assert LEVELS[level_of(0.98)] == "superior" and LEVELS[level_of(0.02)] == "inferior"
    assert DEFAULT_THRESHOLDS == (0.9, 0.6, 0.4, 0.1)


def test_preference_is_the_expected_level_value():
    assert preference(torch.tensor([1.0, 0, 0, 0, 0])) == 1.0
    assert preference(torch.tensor([0, 0, 0, 0, 1.0])) == 0.0
    assert preference(torch.tensor([0.2, 0.2, 0.2, 0.2, 0.2])) == pytest.approx(0.5)
    assert preference(torch.tensor([0.0, 0.5, 0.0, 0.5, 0.0])) == pytest.approx(0.5)
    assert preference(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.75)


def test_entropy_is_averaged_over_supervised_positions_only():
    # one sequence of 4 tokens over a vocabulary of 2: positions 0..2 predict tokens 1..3;
    # only token 3 is supervised, so only position 2's distribution counts
    logits = torch.tensor([[[0.0, 0.0], [5.0, -5.0], [math.log(3.0), 0.0], [9.0, 9.0]]])
    labels = torch.tensor([[-100, -100, -100, 0]])
    # position 2: softmax = (3/4, 1/4)
    by_hand = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(masked_entropy(logits, labels)) == pytest.approx(by_hand, abs=1e-6)
    # the public code's mean over every (shifted) position: ln 2, about 0, and by_hand, over 3
    p1 = torch.softmax(torch.tensor([5.0, -5.0]), 0)
    naive = (math.log(2.0) + float(-(p1 * p1.log()).sum()) + by_hand) / 3
    assert naive != pytest.approx(by_hand, abs=1e-3)
    assert float(masked_entropy(logits, labels)) != pytest.approx(naive, abs=1e-3)
    with pytest.raises(W2SError, match="no supervised position"):
        masked_entropy(logits, torch.full_like(labels, -100))


def test_loss_mixes_cross_entropy_and_entropy_with_the_dynamic_weight():
    logits = torch.tensor([[[0.0, 0.0], [5.0, -5.0], [math.log(3.0), 0.0], [9.0, 9.0]]])
    labels = torch.tensor([[-100, -100, -100, 1]])  # the target at position 3: token 1, P = 1/4 at position 2
    ce_hand = math.log(4.0)
    h_hand = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    # at the start the term is off: the loss is the cross-entropy alone
    loss, ce, entropy, weight = comparative_loss(logits, labels, 1.0, step_frac=0.0)
    assert float(ce) == pytest.approx(ce_hand, abs=1e-6) and float(entropy) == pytest.approx(h_hand, abs=1e-6)
    assert weight == 0.0 and float(loss) == pytest.approx(ce_hand, abs=1e-6)
    # halfway through the warmup (a tenth of the steps): ramp 1/2, temperature 0.3
    w_hand = 0.5 * 0.5 / (1 + math.exp(-(h_hand - ce_hand) / 0.3))
    loss, _, _, weight = comparative_loss(logits, labels, 0.5, step_frac=0.05)
    assert weight == pytest.approx(w_hand, rel=1e-6) and 0 < weight < 0.25
    assert float(loss) == pytest.approx((1 - w_hand) * ce_hand + w_hand * h_hand, abs=1e-6)
    # after it: temperature 0.1, full ramp; a model less sure than it is wrong gets a larger weight
    assert dynamic_weight(1.0, 2.0, 0.5) == pytest.approx(1 / (1 + math.exp(-10.0)))
    assert dynamic_weight(2.0, 1.0, 0.5) == pytest.approx(1 / (1 + math.exp(10.0)))
    assert comparative_loss(logits, labels, 0.0, step_frac=0.5)[3] == 0.0


def test_thurstone_map_hand_cases():
    anchors = np.array([10.0, 30.0, 50.0, 70.0, 90.0])
    # symmetric preferences around the centre anchor: the score is the anchors' centre
    assert thurstone_map([1.0, 0.8, 0.5, 0.2, 0.0], anchors) == pytest.approx(50.0, abs=1e-4)
    # beats every anchor outright: above the top anchor, but finite thanks to the prior
    top = thurstone_map([1.0] * 5, anchors)
    assert 90.0 < top < 1e3 and math.isfinite(top)
    bottom = thurstone_map([0.0] * 5, anchors)
    assert bottom == pytest.approx(100.0 - top, abs=1e-4) and bottom < 10.0
    # monotone in the preferences
    scores = [thurstone_map([q] * 5, anchors) for q in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert scores == sorted(scores) and scores[2] == pytest.approx(50.0, abs=1e-4)
    # one anchor (z = 0 after standardising two anchors at -1, +1): the stationary point by hand
    # d/dz [q log Phi(z-1) + (1-q) log Phi(1-z) + q log Phi(z+1) + (1-q) log Phi(-z-1) - z^2/2] = 0
    q = 0.7
    z = (thurstone_map([q, q], [-1.0, 1.0]) - 0.0) / 1.0

    def grad(z):
        out = -z
        for zj in (-1.0, 1.0):
            d = z - zj
            out += q * norm.pdf(d) / norm.cdf(d) - (1 - q) * norm.pdf(d) / norm.cdf(-d)
        return out

    assert abs(grad(z)) < 1e-6 and z > 0
    with pytest.raises(W2SError, match="at least 2 anchors"):
        thurstone_map([0.5], [1.0])


def test_scale_quantiles_map_the_anchor_range_to_0_100():
    from w2s.score import scale_100

    q = scale_quantiles([-1.0, 0.5, 3.0])
    assert scale_100(np.array([-1.0, 1.0, 3.0, 9.0, -5.0]), q).tolist() == pytest.approx([0, 50, 100, 100, 0])
    with pytest.raises(W2SError, match="do not spread"):
        scale_quantiles([2.0, 2.0])


# ------------------------------------------------------------------ the LoRA VLM, on a tiny random Qwen2-VL


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from w2s.testing.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm("qwen2_vl", tmp_path_factory.mktemp("tiny_qwen2_vl"))


def _video(seed: int, frames: int = 2, side: int = 28) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, side, side, 3), generator=g, dtype=torch.uint8)


def test_pair_inputs_supervise_the_level_token_alone(tiny_qwen):
    torch.manual_seed(0)
    model = ComparativeVLM(str(tiny_qwen), lora={"rank": 2, "alpha": 4.0, "targets": ["q_proj", "v_proj"]})
    assert len(set(model.level_ids)) == 5
    plain = model.pair_inputs(_video(0), _video(1))
    batch = model.pair_inputs(_video(0), _video(1), target=1)
    assert batch["input_ids"].shape[1] == plain["input_ids"].shape[1] + 1
    assert batch["input_ids"][0, -1] == model.level_ids[1]
    assert (batch["labels"][0, :-1] == -100).all() and batch["labels"][0, -1] == model.level_ids[1]
    text = model.tokenizer.decode(plain["input_ids"][0])
    assert text.count("<|video_pad|>") >= 2 and text.endswith("The quality of the second video is")
    # LoRA on the language model's q/v projections only: a small trainable share, none in the vision tower
    trainable = [n for n, p in model.model.named_parameters() if p.requires_grad]
    assert trainable and all("language_model" in n and "lora_" in n for n in trainable)
    assert not any("visual" in n for n in trainable)


def test_a_step_trains_the_adapter_and_the_folder_round_trips(tiny_qwen, tmp_path):
    torch.manual_seed(0)
    model = ComparativeVLM(str(tiny_qwen), lora={"rank": 2, "alpha": 4.0, "targets": ["q_proj", "v_proj"]})
    frozen = {n: p.detach().clone() for n, p in model.model.named_parameters() if not p.requires_grad}
    a, b = _video(0), _video(1)
    before = model.level_probs(a, b)
    assert float(before.sum()) == pytest.approx(1.0)
    optimizer = torch.optim.AdamW([p for p in model.model.parameters() if p.requires_grad], lr=0.05)
    losses = []
    model.model.train()
    for _ in range(5):  # teach "superior" for this pair
        batch = model.pair_inputs(a, b, target=0)
        labels = batch.pop("labels")
        loss, ce, _, _ = comparative_loss(model.model(**batch).logits, labels, 1.0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(ce.item())
    after = model.level_probs(a, b)
    assert losses[-1] < losses[0] and after[0] > before[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.model.named_parameters() if n in frozen)

    anchors = [_video(10 + j) for j in range(3)]
    config = {"kind": "comparative", "base_model": str(tiny_qwen), "dtype": "auto", "frames": 2,
              "thresholds": list(DEFAULT_THRESHOLDS),
              "anchors": {"scores": [-1.0, 0.0, 2.0], "fps": [1.0, 1.0, 1.0]},
              "meta": {"train_score_quantiles": scale_quantiles([-1.0, 0.0, 2.0])}}
    student = ComparativeStudent(config, anchors, model)
    clip = Clip("x", b.permute(0, 3, 1, 2).float() / 255, fps=1.0)
    want = student.score(clip)
    student.save_pretrained(tmp_path / "comp")
    files = sorted(p.name for p in (tmp_path / "comp").iterdir())
    assert files == ["adapter_config.json", ADAPTER_NAME, ANCHORS_NAME, "config.json"]
    assert json.loads((tmp_path / "comp" / "config.json").read_text())["kind"] == "comparative"
    loaded = ComparativeStudent.from_pretrained(tmp_path / "comp")
    assert all(torch.equal(x, y) for x, y in zip(loaded.anchor_frames, anchors))
    assert loaded.preferences(clip) == pytest.approx(student.preferences(clip), abs=1e-6)
    assert loaded.score(clip) == pytest.approx(want, abs=1e-5)
    # the score is Thurstone's MAP of the K soft preferences (one forward pass per anchor)
    assert want == pytest.approx(thurstone_map(student.preferences(clip), [-1.0, 0.0, 2.0]), abs=1e-9)

    # a missing file fails at once, naming it, through the student: teacher too
    from teachers.student_teacher import StudentTeacher

    (tmp_path / "comp" / ADAPTER_NAME).unlink()
    for load in (ComparativeStudent.from_pretrained, StudentTeacher.check):
        with pytest.raises(MissingWeightsError, match=ADAPTER_NAME):
            load(str(tmp_path / "comp"))


def test_a_moved_base_model_fails_naming_it(tiny_qwen, tmp_path):
    folder = tmp_path / "comp"
    folder.mkdir()
    for name in ("adapter_config.json", ADAPTER_NAME, ANCHORS_NAME):
        (folder / name).write_text("{}")
    (folder / "config.json").write_text(json.dumps({"kind": "comparative", "base_model": str(tmp_path / "gone")}))
    with pytest.raises(MissingWeightsError, match="gone"):
        ComparativeStudent.from_pretrained(folder)
