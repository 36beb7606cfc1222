"""timm:NAME backbones: weights from a file or the user's cache, never silently random; frozen; exact dim."""

import pytest
import torch
from safetensors.torch import save_file

from students.timm_backbone import TimmBackbone
from w2s.core.errors import MissingWeightsError, W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources

RESNET18_DIM = 2 * (64 + 64 + 128 + 256 + 512)  # stem + 4 stages; the final features are the last stage


def photo_frames(name: str = "astronaut") -> torch.Tensor:
    path = next(s.path for s in sources("all") if s.name == name)
    return read_clip(path, UniformSampler(1), max_side=224).frames


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point the HF hub cache and TORCH_HOME at empty folders; returns them."""
    import huggingface_hub.constants

    hub, home = tmp_path / "hf_hub", tmp_path / "torch_home"
    hub.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("TORCH_HOME", str(home))
    return hub, home


@pytest.fixture(scope="module")
def random_resnet():
    torch.manual_seed(0)
    return TimmBackbone("resnet18", pretrained=False)


def test_random_weights_are_explicit_and_dim_is_exact(random_resnet):
    b = random_resnet
    assert b.name == "timm:resnet18" and b.weights_source == "random"
    frames = torch.rand(3, 3, 90, 160)
    feats = b.frame_features(frames)
    assert b.dim == RESNET18_DIM and feats.shape == (3, b.dim) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all()
    from w2s.core.clip import Clip

    assert torch.allclose(b.embed(Clip("x", frames, fps=4.0)), feats.mean(dim=0))


@pytest.mark.parametrize(
    "model, dim",
    [
        ("convnext_atto", 2 * (40 + 80 + 160 + 320)),  # final features are the last stage: left out
        ("efficientnet_lite0", 2 * (16 + 24 + 40 + 112 + 320 + 1280)),  # conv_head's 1280 after the last stage
    ],
)
def test_dim_is_exact_across_architectures(model, dim):
    b = TimmBackbone(model, pretrained=False, frame_batch=2)
    assert b.dim == dim
    assert b.frame_features(torch.rand(3, 3, 40, 70)).shape == (3, dim)  # small frames are upscaled


def test_out_indices_pick_stages(random_resnet):
    b = TimmBackbone("resnet18", pretrained=False, out_indices=[1, -1])
    assert b.out_indices == [1, 4] and b.dim == 2 * (64 + 512)
    with pytest.raises(W2SError, match="stages 0..4"):
        TimmBackbone("resnet18", pretrained=False, out_indices=[7])


def test_frozen_and_batchnorm_statistics_never_change(random_resnet):
    b = random_resnet
    assert not any(p.requires_grad for p in b.parameters())
    before = {k: v.clone() for k, v in b.net.state_dict().items()}
    b.train()
    assert not b.training and not b.net.training
    b.frame_features(torch.rand(2, 3, 64, 64))
    assert all(torch.equal(before[k], v) for k, v in b.net.state_dict().items())


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_round_trip_gives_identical_features(tmp_path, random_resnet, suffix):
    path = tmp_path / f"resnet18{suffix}"
    state = {k: v.contiguous() for k, v in random_resnet.net.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = TimmBackbone("resnet18", weights=path)
    assert loaded.weights_source == str(path)
    frames = photo_frames()
    assert torch.equal(loaded.frame_features(frames), random_resnet.frame_features(frames))


def test_weights_from_the_users_caches(empty_caches, random_resnet):
    hub, home = empty_caches
    frames = photo_frames()
    want = random_resnet.frame_features(frames)
    state = {k: v.contiguous() for k, v in random_resnet.net.state_dict().items()}
    # TORCH_HOME/hub/checkpoints/<file of timm's URL>
    ckpt = home / "hub" / "checkpoints" / "resnet18_a1_0-d63eafa0.pth"
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    b = TimmBackbone("resnet18")
    assert b.weights_source == str(ckpt) and torch.equal(b.frame_features(frames), want)
    # the HF hub cache layout `hf download timm/resnet18.a1_in1k` leaves (preferred over the URL file)
    repo = hub / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    save_file(state, str(repo / "snapshots" / "abc123" / "model.safetensors"))
    b = TimmBackbone("resnet18")
    assert b.weights_source.endswith("model.safetensors") and torch.equal(b.frame_features(frames), want)


def test_missing_weights_say_where_looked_and_how_to_fix(empty_caches, tmp_path):
    hub, home = empty_caches
    with pytest.raises(MissingWeightsError) as err:
        TimmBackbone("resnet18")
    msg = str(err.value)
    for part in (
        "'resnet18'",
        str(hub / "models--timm--resnet18.a1_in1k"),
        str(home / "hub" / "checkpoints" / "resnet18_a1_0-d63eafa0.pth"),
        "hf download timm/resnet18.a1_in1k",
        "weights=PATH",
        "pretrained=false",
    ):
        assert part in msg, part
    with pytest.raises(MissingWeightsError, match="timm lists no pretrained weights for 'resnet200'"):
        TimmBackbone("resnet200")
    with pytest.raises(MissingWeightsError, match="nope.safetensors.*does not exist"):
        TimmBackbone("resnet18", weights=tmp_path / "nope.safetensors")


def test_a_file_of_another_model_is_refused(tmp_path):
    import timm

    path = tmp_path / "convnext.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("convnext_atto").state_dict().items()}, str(path))
    with pytest.raises(MissingWeightsError, match="does not hold weights of timm model 'resnet18'"):
        TimmBackbone("resnet18", weights=path)


def test_unknown_model_and_tag_are_named():
    with pytest.raises(W2SError, match="did you mean 'resnet18'"):
        TimmBackbone.check("resnet18x")
    with pytest.raises(W2SError, match="no pretrained tag 'bogus'.*a1_in1k"):
        TimmBackbone.check("resnet18.bogus")
    TimmBackbone.check("resnet18.a1_in1k")


def test_features_change_with_blur(random_resnet):
    import kornia

    frames = photo_frames()
    blurred = kornia.filters.gaussian_blur2d(frames, (15, 15), (3.0, 3.0))
    a, b = random_resnet.frame_features(frames)[0], random_resnet.frame_features(blurred)[0]
    assert not torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    # blur lowers the spatial spread of the earliest map (the std half of the stem's 128 values)
    assert b[64:128].mean() < a[64:128].mean()
