"""The pixel-aware samplers (frame_difference, fragments) on real clips, through read_clip."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from w2s.media.decode import read_clip
from w2s.media.probe import probe
from w2s.media.samplers import (
    FragmentSampler,
    FrameDifferenceSampler,
    UniformSampler,
    make_sampler,
)
from w2s.testing.media import write_video as _write_video

SIZE = (144, 320)  # (height, width) of the spliced test clip


def first_frames(path, count: int, size=SIZE) -> list[np.ndarray]:
    """The first ``count`` frames of a real video as rgb24, scaled to ``size``."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24", width=size[1], height=size[0]))
            if len(out) == count:
                return out
    raise AssertionError(f"{path} has fewer than {count} frames")


def write_video(path, frames: list[np.ndarray], fps: int = 25) -> None:
    _write_video(path, frames, fps, crf=18)


def decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def as_float(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="module")
def bikes_then_carphone(bikes, carphone, tmp_path_factory):
    """40 frames: 20 of bikes (a street) then 20 of carphone (a face in a car); the cut is 19 | 20."""
    path = tmp_path_factory.mktemp("cut") / "cut_20_20.mp4"
    write_video(path, first_frames(bikes, 20) + first_frames(carphone, 20))
    return path


# --- frame_difference ------------------------------------------------------------------


@pytest.mark.parametrize("num_frames", [2, 4, 8])
def test_frame_difference_picks_the_cut(bikes_then_carphone, num_frames):
    assert probe(bikes_then_carphone).frames == 40
    clip = read_clip(bikes_then_carphone, {"name": "frame_difference", "num_frames": num_frames})
    indices = clip.meta["indices"]
    assert 20 in indices  # the first frame of the new content
    assert len(indices) == num_frames and indices == sorted(set(indices))
    # The cut's change dwarfs every other pick's (ordinary motion).
    changes = dict(zip(indices, clip.meta["frame_difference"]))
    assert changes[20] > 3 * max(v for i, v in changes.items() if i != 20)
    # Uniform sampling of the same clip misses the cut: the rule is what found it.
    assert not {19, 20} & set(UniformSampler(num_frames).indices(40, 25.0))


def test_frame_difference_cut_off_segment_boundary(bikes, carphone, tmp_path):
    # 17 + 23 frames: with 4 picks the cut (16 | 17) falls inside the second segment [10, 20).
    path = tmp_path / "cut_17_23.mp4"
    write_video(path, first_frames(bikes, 17) + first_frames(carphone, 23))
    indices = read_clip(path, FrameDifferenceSampler(4)).meta["indices"]
    assert 17 in indices
    assert indices[0] < 10 and indices[2] >= 20 and indices[3] >= 30  # the other segments keep one each


def test_frame_difference_frames_are_the_decoded_frames(bikes_then_carphone):
    clip = read_clip(bikes_then_carphone, FrameDifferenceSampler(4))
    full = decode_all(bikes_then_carphone)
    expected = torch.stack([as_float(full[i]) for i in clip.meta["indices"]])
    assert clip.frames.shape == (4, 3, *SIZE)
    assert torch.equal(clip.frames, expected)


def test_frame_difference_on_a_real_video_is_deterministic_and_spread(bikes):
    sampler = FrameDifferenceSampler(8)
    clip = read_clip(bikes, sampler, max_side=160)
    assert clip.frames.shape == (8, 3, 68, 160)  # max_side applies as for uniform
    indices = clip.meta["indices"]
    # One pick in each of the 8 segments around the uniform frames [15, 46, 78, ..., 234] ...
    edges = [0, 31, 62, 94, 125, 156, 187, 219, 250]
    assert all(edges[k] <= i < edges[k + 1] for k, i in enumerate(indices))
    # ... never two within (250 // 8) // 2 = 15 frames (bikes has cuts near segment edges) ...
    assert min(b - a for a, b in itertools.pairwise(indices)) >= 15
    # ... and not simply the uniform frames: the changes moved them.
    assert indices != UniformSampler(8).indices(250, 25.0)
    assert read_clip(bikes, sampler, max_side=160).meta["indices"] == indices


# --- fragments ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bikes_fragments(bikes):
    sampler = FragmentSampler(num_frames=3, grid=7, patch=32)
    # max_side is ignored: the patches are cut at native resolution.
    return sampler, read_clip(bikes, sampler, max_side=64)


def test_fragments_shape_and_layout(bikes_fragments):
    _, clip = bikes_fragments
    assert clip.frames.shape == (3, 3, 224, 224) and clip.frames.dtype == torch.float32
    assert clip.meta["indices"] == UniformSampler(3).indices(250, 25.0)
    layout = clip.meta["fragments"]
    assert layout["resized"] == [272, 640]  # 272 >= 224: native, no scaling
    assert len(layout["positions"]) == 49
    for k, (y, x) in enumerate(layout["positions"]):  # each patch inside its own cell
        i, j = divmod(k, 7)
        assert (i * 272) // 7 <= y and y + 32 <= ((i + 1) * 272) // 7
        assert (j * 640) // 7 <= x and x + 32 <= ((j + 1) * 640) // 7


def test_fragments_are_native_pixels(bikes, bikes_fragments):
    _, clip = bikes_fragments
    indices = clip.meta["indices"]
    wanted = {}
    with av.open(str(bikes)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                wanted[i] = frame.to_ndarray(format="rgb24")
            if i >= indices[-1]:
                break
    positions = clip.meta["fragments"]["positions"]
    for t, index in enumerate(indices):  # the same positions in every frame
        full = as_float(wanted[index])
        for k, (y, x) in enumerate(positions):
            i, j = divmod(k, 7)
            patch = clip.frames[t, :, i * 32 : (i + 1) * 32, j * 32 : (j + 1) * 32]
            assert torch.equal(patch, full[:, y : y + 32, x : x + 32]), (t, k)


def test_fragments_deterministic_per_video(bikes, bikes_fragments):
    sampler, clip = bikes_fragments
    again = read_clip(bikes, sampler)
    assert torch.equal(again.frames, clip.frames)
    assert again.meta["fragments"] == clip.meta["fragments"]
    # Another video id, or another seed, draws other positions.
    other = read_clip(bikes, sampler, clip_id="bikes_copy").meta["fragments"]["positions"]
    reseeded = read_clip(bikes, FragmentSampler(3, 7, 32, seed=1)).meta["fragments"]["positions"]
    assert other != clip.meta["fragments"]["positions"] != reseeded


def test_fragments_upscale_small_video(carphone):
    # 176x144: the shorter side 144 < 224, so the frame is upscaled to 224 x 274 first.
    clip = read_clip(carphone, {"name": "fragments", "num_frames": 2, "grid": 7, "patch": 32})
    assert clip.frames.shape == (2, 3, 224, 224)
    assert clip.meta["fragments"]["resized"] == [224, 274]
    # Every patch is cut from the decoded frame upscaled (bilinear) to 224 x 274 at its position.
    full = decode_all(carphone)
    for t, index in enumerate(clip.meta["indices"]):
        frame = as_float(full[index])[None]
        upscaled = F.interpolate(frame, size=(224, 274), mode="bilinear", antialias=True, align_corners=False)[0]
        for k, (y, x) in enumerate(clip.meta["fragments"]["positions"]):
            i, j = divmod(k, 7)
            patch = clip.frames[t, :, i * 32 : (i + 1) * 32, j * 32 : (j + 1) * 32]
            torch.testing.assert_close(patch, upscaled[:, y : y + 32, x : x + 32].clamp(0, 1), rtol=0, atol=1e-5)
    # A smaller mosaic fits without upscaling.
    small = read_clip(carphone, {"name": "fragments", "num_frames": 2, "grid": 4, "patch": 16})
    assert small.frames.shape == (2, 3, 64, 64) and small.meta["fragments"]["resized"] == [144, 176]


# --- every sampler, real videos and stills -----------------------------------------------

SPECS = [
    {"name": "uniform", "num_frames": 4},
    {"name": "fps", "fps": 2, "max_frames": 4},
    {"name": "frame_difference", "num_frames": 4},
    {"name": "fragments", "num_frames": 4, "grid": 4, "patch": 16},
]


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_every_sampler_reads_a_real_video(carphone, spec):
    sampler = make_sampler(spec)
    assert make_sampler(sampler.spec()).spec() == sampler.spec()
    assert type(sampler).__name__ in repr(sampler)
    clip = read_clip(carphone, spec, max_side=96)
    indices = clip.meta["indices"]
    assert clip.num_frames == len(indices) == 4 and indices == sorted(set(indices))
    assert all(0 <= i < 120 for i in indices)
    expected = (64, 64) if spec["name"] == "fragments" else (78, 96)  # (144, 176) fitted into 96
    assert clip.size == expected
    # The pixels are those of the frames it names: resized to fit 96 (or, for fragments, the
    # native patch at the first position, 144 >= 4 * 16 needing no upscale).
    frames = torch.stack([as_float(f) for f in decode_all(carphone)[indices]])
    if spec["name"] == "fragments":
        y, x = clip.meta["fragments"]["positions"][0]
        assert torch.equal(clip.frames[:, :, :16, :16], frames[:, :, y : y + 16, x : x + 16])
    else:
        expected = F.interpolate(frames, size=(78, 96), mode="bilinear", antialias=True, align_corners=False)
        torch.testing.assert_close(clip.frames, expected.clamp(0, 1), rtol=0, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_every_sampler_reads_a_still(skimage_dir, spec):
    clip = read_clip(skimage_dir / "astronaut.png", spec, max_side=128)
    assert clip.meta["indices"] == [0] and clip.fps == 1.0
    assert clip.frames.shape == ((1, 3, 64, 64) if spec["name"] == "fragments" else (1, 3, 128, 128))


def test_fragments_of_a_still_are_native_pixels(skimage_dir):
    from PIL import Image

    path = skimage_dir / "astronaut.png"
    clip = read_clip(path, FragmentSampler(1, grid=7, patch=32), max_side=128)
    assert clip.frames.shape == (1, 3, 224, 224)
    full = as_float(np.array(Image.open(path).convert("RGB")))
    y, x = clip.meta["fragments"]["positions"][8]  # row 1, column 1
    assert torch.equal(clip.frames[0, :, 32:64, 32:64], full[:, y : y + 32, x : x + 32])
