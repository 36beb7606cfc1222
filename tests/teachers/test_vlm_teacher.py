"""VLMTeacher on tiny random VLMs built offline (w2s.testing.tiny_vlm), loaded by path."""

from __future__ import annotations

import math

import pytest
import torch

from teachers.vlm_teacher import LEVELS, WEIGHTS, VLMTeacher, level_token_ids
from w2s.core.errors import MissingWeightsError, W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources
from w2s.testing.tiny_vlm import FAMILIES, build_tiny_vlm

VLM_FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_onevision"]


@pytest.fixture(scope="module")
def vlm_clips():
    found = {s.name: s for s in sources("all")}
    video = read_clip(found["bikes"].path, UniformSampler(4), max_side=64)
    still = read_clip(found["astronaut"].path, UniformSampler(4), max_side=64)
    assert video.num_frames == 4 and still.num_frames == 1
    return {"video": video, "image": still}


@pytest.fixture(scope="module", params=VLM_FAMILIES)
def vlm_teacher(request, tmp_path_factory):
    folder = build_tiny_vlm(
        request.param, tmp_path_factory.mktemp(f"tiny_{request.param}")
    )
    return VLMTeacher(str(folder))


def test_vlm_tiny_families_listed():
    assert set(VLM_FAMILIES) <= set(FAMILIES)
    with pytest.raises(ValueError, match="qwen2_vl"):
        build_tiny_vlm("nope", "/nonexistent")


@pytest.mark.parametrize("kind", ["video", "image"])
def test_vlm_score_is_expected_level(vlm_teacher, vlm_clips, kind):
    clip = vlm_clips[kind]
    probs = vlm_teacher.level_probabilities(clip)
    assert probs.shape == (5,)
    assert torch.all(probs >= 0)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-9)
    score = vlm_teacher.score(clip)
    assert math.isfinite(score) and 1.0 <= score <= 5.0
    by_hand = sum(float(p) * w for p, w in zip(probs, WEIGHTS))
    assert score == pytest.approx(by_hand, abs=1e-12)


def test_vlm_scoring_is_deterministic(vlm_teacher, vlm_clips):
    clip = vlm_clips["video"]
    assert vlm_teacher.score(clip) == vlm_teacher.score(clip)
    assert torch.equal(
        vlm_teacher.level_probabilities(clip), vlm_teacher.level_probabilities(clip)
    )


def test_vlm_level_token_ids_are_distinct(vlm_teacher):
    tok = vlm_teacher.tokenizer
    for kind, ids in vlm_teacher.level_ids.items():
        assert len(set(ids)) == len(LEVELS), (kind, ids)
    # the ids are those of " word" after the pre-filled answer, leading space included
    ids = level_token_ids(tok)
    for word, tid in zip(LEVELS, ids):
        assert tok.decode([tid]).strip() == word


def test_vlm_frames_as_images_without_video_support(vlm_teacher, vlm_clips):
    """A processor without video support gets the frames as a list of images."""
    vlm_teacher.has_video = False
    try:
        batch, kind = vlm_teacher.inputs(vlm_clips["video"])
        assert "pixel_values_videos" not in batch
        score = vlm_teacher.score(vlm_clips["video"])
    finally:
        vlm_teacher.has_video = True
    # the frames as images give another input and so another (valid) score than the video does
    assert kind == "video" and 1.0 <= score <= 5.0 and score != vlm_teacher.score(vlm_clips["video"])


def test_vlm_max_frames_subsamples(vlm_teacher, vlm_clips):
    clip = vlm_clips["video"]
    long_clip = clip.with_frames(clip.frames.repeat(3, 1, 1, 1))
    arr, positions = vlm_teacher._frames(long_clip)
    assert arr.shape[0] == vlm_teacher.max_frames == 8
    assert positions[0] == 0 and positions[-1] == long_clip.num_frames - 1


def test_one_forward_per_scored_clip(vlm_teacher, vlm_clips, monkeypatch):
    """One forward pass scores one clip (its cost is in benchmarks/, not here)."""
    calls = []
    forward = vlm_teacher.model.forward
    monkeypatch.setattr(vlm_teacher.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    vlm_teacher.score(vlm_clips["video"])
    vlm_teacher.score(vlm_clips["image"])
    assert len(calls) == 2


def test_vlm_missing_folder_names_path(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(W2SError, match="no_such_model"):
        VLMTeacher.check(str(missing))
    with pytest.raises(W2SError, match="no_such_model"):
        VLMTeacher(str(missing))


def test_vlm_folder_without_config_names_path(tmp_path):
    folder = tmp_path / "empty_model"
    folder.mkdir()
    with pytest.raises(MissingWeightsError, match="empty_model.*config.json"):
        VLMTeacher.check(str(folder))
    with pytest.raises(MissingWeightsError, match="empty_model"):
        VLMTeacher(str(folder))


def test_vlm_uncached_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    VLMTeacher.check(
        "w2s-tests/not-a-cached-vlm"
    )  # looks like a hub id: accepted without loading
    # looked up in the local cache only: the suite's network guard fails any outward connection
    with pytest.raises(MissingWeightsError, match="not-a-cached-vlm.*cache") as err:
        VLMTeacher("w2s-tests/not-a-cached-vlm")
    assert "hf download" in str(err.value)


def test_vlm_video_carries_the_clip_frame_rate(tmp_path_factory, vlm_clips):
    """Qwen2.5-VL times its temporal patches from the clip's fps, not its 24 fps default."""
    import dataclasses

    teacher = VLMTeacher(str(build_tiny_vlm("qwen2_5_vl", tmp_path_factory.mktemp("tiny_fps"))))
    patch = teacher.processor.video_processor.temporal_patch_size
    for fps in (vlm_clips["video"].fps, 2.0):
        batch, kind = teacher.inputs(dataclasses.replace(vlm_clips["video"], fps=fps))
        assert kind == "video"
        assert float(batch["second_per_grid_ts"][0]) == pytest.approx(patch / fps)
