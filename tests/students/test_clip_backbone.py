"""The clip: backbone on a tiny random CLIP built offline and loaded by path, like a real checkpoint."""

from __future__ import annotations

import shutil

import pytest
import torch

from students import check_backbone, make_backbone
from students.clip_backbone import CLIPBackbone, level_prompts, quality_prompt_init
from students.quality_prompts import QualityPromptHead
from w2s.config import load_config
from w2s.core.errors import ConfigError, MissingWeightsError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources


@pytest.fixture(scope="module")
def clip():
    found = {s.name: s for s in sources("all")}
    return read_clip(found["bikes"].path, UniformSampler(3), max_side=64)


@pytest.fixture(scope="module")
def backbone(tiny_clip):
    return CLIPBackbone(str(tiny_clip))


def test_features_are_the_mean_of_normalised_projected_frame_embeddings(backbone, clip):
    feats = backbone.embed(clip)
    assert feats.shape == (backbone.dim,) == (16,) and feats.dtype == torch.float32
    # by hand through CLIPModel's own forward: image_embeds are the projected, normalised embeddings
    arr = (clip.frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    pixels = backbone.processor(images=list(arr), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (3, 3, 32, 32)  # resized and cropped to the model's 32 x 32
    tokens = backbone.processor.tokenizer(["a video"], return_tensors="pt")
    with torch.no_grad():
        out = backbone.net(pixel_values=pixels, **tokens)
    torch.testing.assert_close(feats, out.image_embeds.mean(0))
    assert backbone.embed_with_base(clip)[1] == 0.0  # no score of its own: the prompts give it


def test_frozen_deterministic_and_different_clips_differ(backbone, clip):
    assert not any(p.requires_grad for p in backbone.net.parameters())
    backbone.train()
    assert not backbone.net.training
    assert backbone.embed(clip).equal(backbone.embed(clip))
    assert not torch.allclose(backbone.embed(clip), backbone.embed(clip.with_frames(clip.frames * 0.2)))
    # motion statistics append after CLIP's embedding: the head finds CLIP's part first
    wrapped = make_backbone(f"clip:{backbone.model_ref}", motion=True)
    assert wrapped.dim == 16 + 12 and torch.equal(wrapped.embed(clip)[:16], backbone.embed(clip))


def test_untrained_branch_is_zero_shot_clip_with_the_level_prompts(backbone, clip, tiny_clip):
    """At its start the branch is CLIP itself: softmax of CLIP's logits_per_image over the five level
    prompts, weighted 5..1, on a one-frame clip (CLIP scores an image)."""
    prompts, scale = quality_prompt_init(str(tiny_clip))
    assert level_prompts()[0] == "a video of excellent quality" and prompts.shape == (5, 16)
    still = clip.with_frames(clip.frames[:1])
    head = QualityPromptHead.for_clip(str(tiny_clip), backbone.dim, hidden=4, dropout=0.0)
    arr = (still.frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    batch = backbone.processor(text=level_prompts(), images=list(arr), return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = backbone.net(**batch).logits_per_image[0]
    want = float(torch.softmax(logits, 0) @ torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0]))
    assert scale == pytest.approx(float(backbone.net.logit_scale.exp()))
    assert float(head(backbone.embed(still)[None]).detach()[0]) == pytest.approx(want, abs=1e-5)


def test_missing_weights_fail_at_once_naming_the_file(tiny_clip, tmp_path):
    with pytest.raises(MissingWeightsError, match=str(tmp_path / "nowhere")):
        check_backbone(f"clip:{tmp_path / 'nowhere'}")
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_clip, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(MissingWeightsError, match=str(no_weights / "model.safetensors")):
        check_backbone(f"clip:{no_weights}")
    (no_weights / "config.json").unlink()
    with pytest.raises(MissingWeightsError, match=str(no_weights / "config.json")):
        CLIPBackbone(str(no_weights))
    # a hub id is looked for in the local cache only, never downloaded
    with pytest.raises(MissingWeightsError, match="no cached hub model 'someone/no-such-clip'.*hf download"):
        check_backbone("clip:someone/no-such-clip")


def test_quality_prompts_need_a_clip_backbone(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("student: {backbone: efficientnet_lite0, head: quality_prompts}\n")
    with pytest.raises(ConfigError, match="needs student.backbone: clip:PATH"):
        load_config(path)
    path.write_text("student: {backbone: efficientnet_lite0, head: quality}\n")
    with pytest.raises(ConfigError, match="did you mean 'quality_prompts'"):
        load_config(path)


def test_shipped_qclip_config_without_its_clip_folder_stops_at_once(tmp_path, capsys):
    from w2s.cli import main

    assert main(["run", "configs/qclip.yaml", "--set", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "models/clip-vit-base-patch16" in err and "hf download" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "qclip" / "manifest.parquet").exists()
