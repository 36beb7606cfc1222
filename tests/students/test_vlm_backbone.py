"""The VLM student backbone on tiny random VLMs built offline and loaded by path."""

from __future__ import annotations

import pytest
import torch

from students.vlm_backbone import VLMBackbone
from teachers.vlm_teacher import VLMTeacher
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources
from w2s.testing.tiny_vlm import build_tiny_vlm


@pytest.fixture(scope="module")
def clip():
    found = {s.name: s for s in sources("all")}
    return read_clip(found["bikes"].path, UniformSampler(4), max_side=64)


@pytest.fixture(scope="module", params=["qwen2_vl", "llava_onevision"])
def tiny_vlm(request, tmp_path_factory):
    return build_tiny_vlm(request.param, tmp_path_factory.mktemp(f"tiny_{request.param}"))


def test_features_are_last_token_and_visual_mean(tiny_vlm, clip):
    backbone = VLMBackbone(str(tiny_vlm))
    feats, _ = backbone.embed_with_base(clip)
    hidden = backbone.hidden_size
    assert feats.shape == (backbone.dim,) == (2 * hidden,)
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()

    # the same two vectors, computed by hand from the model's own hidden states
    batch, _ = backbone.inputs(clip)
    with torch.no_grad():
        states = backbone.model(**batch, output_hidden_states=True).hidden_states[-1][0]
    visual = torch.isin(batch["input_ids"][0], torch.tensor(backbone.visual_token_ids))
    assert 0 < int(visual.sum()) < len(visual)
    torch.testing.assert_close(feats[:hidden], states[-1])
    torch.testing.assert_close(feats[hidden:], states[visual].mean(0))


def test_base_is_the_zero_shot_teacher_score(tiny_vlm, clip):
    """The student's base and the vlm: teacher are one and the same Q-Align score."""
    backbone = VLMBackbone(str(tiny_vlm))
    _, base = backbone.embed_with_base(clip)
    # by hand from the model's next-token logits: softmax over the first tokens of the five
    # level words, expectation with weights 5 (excellent) .. 1 (bad)
    batch, kind = backbone.inputs(clip)
    with torch.no_grad():
        logits = backbone.model(**batch).logits[0, -1].double()
    probs = torch.softmax(logits[backbone.level_ids[kind]], dim=0)
    assert base == pytest.approx(float((probs * torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0], dtype=torch.float64)).sum()), abs=1e-9)
    assert base == pytest.approx(VLMTeacher(str(tiny_vlm)).score(clip), abs=1e-9)


def test_frozen_and_different_clips_differ(tiny_vlm, clip):
    backbone = VLMBackbone(str(tiny_vlm))
    assert not any(p.requires_grad for p in backbone.model.parameters())
    dark = clip.with_frames(clip.frames * 0.2)
    assert not torch.allclose(backbone.embed(clip), backbone.embed(dark))
    assert backbone.embed(clip).equal(backbone.embed(clip))  # deterministic
