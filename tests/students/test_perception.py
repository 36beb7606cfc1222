"""Perception (backbone + motion + temporal change) and the backbone specs of make_backbone."""

import pytest
import torch

from students import BACKBONES, check_backbone, make_backbone
from students.base import BackboneBase
from students.motion import MOTION_DIM, motion_features, temporal_feature_change
from students.perception import Perception
from w2s.core.errors import W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.testing.doubles import ScoringBackbone


@pytest.fixture(scope="module")
def real_clip(sample_pools):
    return read_clip(sample_pools["eval"] / "carphone_pristine_s01.mp4", UniformSampler(4))


class PlainBackbone(BackboneBase):
    """A backbone with no per-frame features and no score of its own."""

    name, dim = "plain", 2

    def embed(self, clip):
        return torch.ones(2)


def test_motion_and_temporal_parts_are_appended_in_order(backbone, real_clip):
    p = Perception(backbone, motion=True, temporal=True)
    assert p.name == "efficientnet_lite0+motion+temporal" and p.dim == 2 * backbone.dim + MOTION_DIM
    out = p.embed(real_clip)
    assert out.shape == (p.dim,)
    per_frame = backbone.frame_features(real_clip.frames)
    d = backbone.dim
    assert torch.allclose(out[:d], backbone.embed(real_clip))
    assert torch.equal(out[d : d + MOTION_DIM], motion_features(real_clip.frames))
    assert torch.allclose(out[d + MOTION_DIM :], temporal_feature_change(per_frame))
    assert not any(q.requires_grad for q in p.parameters())
    p.train()
    assert not backbone.net.training


def test_each_option_alone(real_clip):
    b = ScoringBackbone()
    assert Perception(b).dim == 3 and torch.equal(Perception(b).embed(real_clip), b.embed(real_clip))
    assert Perception(b, motion=True).dim == 3 + MOTION_DIM
    assert Perception(b, temporal=True).embed(real_clip).shape == (6,)


def test_embed_with_base_passes_the_score_through(real_clip):
    p = Perception(ScoringBackbone(), motion=True)
    feats, base = p.embed_with_base(real_clip)
    assert base == pytest.approx(float(real_clip.frames.mean() * 10)) and feats.shape == (p.dim,)
    assert torch.equal(feats, p.embed(real_clip))
    feats, base = Perception(PlainBackbone(), motion=True).embed_with_base(real_clip)
    assert base == 0.0 and torch.equal(feats[:2], torch.ones(2))  # no score of its own: 0
    assert p.to("cpu") is p and p.backbone.device == "cpu"


def test_temporal_needs_per_frame_features():
    with pytest.raises(W2SError, match="frame_features"):
        Perception(PlainBackbone(), temporal=True)
    with pytest.raises(W2SError, match="true or false"):
        Perception(PlainBackbone(), motion="yes")


def test_make_backbone_resolves_specs():
    b = make_backbone("timm:resnet18", pretrained=False)
    assert b.name == "timm:resnet18" and b.dim == 2048
    p = make_backbone("timm:resnet18", pretrained=False, out_indices=[0], motion=True)
    # stage 0 (64 channels) and, since the last stage is not among them, the final 512-channel features
    assert isinstance(p, Perception) and p.dim == 2 * (64 + 512) + MOTION_DIM and p.name == "timm:resnet18+motion"
    assert BACKBONES.resolve("efficientnet_lite0").__name__ == "EfficientNetLite0"  # old callers keep working


def test_make_backbone_builds_the_packaged_model(backbone):
    b = make_backbone("efficientnet_lite0", frame_batch=4)
    assert type(b) is type(backbone) and b.dim == backbone.dim


@pytest.mark.parametrize(
    "spec, options, message",
    [
        ("efficientnet_lite", {}, "did you mean .*'efficientnet_lite0'"),
        ("resnet18", {}, "timm:resnet18"),
        ("tim:resnet18", {}, "did you mean 'timm'"),
        ("timm:", {}, "names no model"),
        ("timm:resnet181", {}, "did you mean 'resnet18'"),
        ("timm:resnet18", {"pretrianed": False}, "no option 'pretrianed'.*pretrained"),
        ("timm:resnet18", {"motion": 1}, "true or false"),
        ("efficientnet_lite0", {"out_indices": [1]}, "no option 'out_indices'"),
        ("", {}, "name like"),
    ],
)
def test_check_backbone_names_the_mistake(spec, options, message):
    with pytest.raises(W2SError, match=message):
        check_backbone(spec, **options)


def test_check_backbone_loads_no_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    check_backbone("timm:resnet18", motion=True, temporal=True)  # no weights anywhere, still a valid spec
    check_backbone("timm:convnext_tiny.fb_in1k", out_indices=[0, 3])
    check_backbone("efficientnet_lite0")
    assert list(tmp_path.iterdir()) == []  # nothing was fetched into (or looked up by creating) the caches


def test_stuttered_clip_moves_the_temporal_parts(real_clip):
    from distortions import DISTORTIONS

    stutter = DISTORTIONS.resolve("stutter")()
    p = Perception(ScoringBackbone(), motion=True, temporal=True)
    clean, bad = p.embed(real_clip), p.embed(stutter.apply(real_clip, stutter.params(3, 0)))
    assert not torch.allclose(clean[3:], bad[3:])
