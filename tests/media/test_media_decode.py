import logging

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from w2s.core.errors import MediaError
from w2s.media.decode import read_clip
from w2s.media.frames import fit_size
from w2s.media.probe import probe
from w2s.media.samplers import FpsSampler, UniformSampler


def full_decode(path) -> np.ndarray:
    """Every frame, the plain way: the reference the streaming reader must match."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def bikes_frames(bikes) -> np.ndarray:
    return full_decode(bikes)


def test_probe_bikes(bikes):
    info = probe(bikes)
    assert (info.kind, info.frames, info.width, info.height, info.fps) == ("video", 250, 640, 272, 25.0)
    assert info.duration == pytest.approx(10.0)


def test_probe_counts_packets_when_container_has_no_count(bikes, tmp_path, run_ffmpeg):
    mkv = tmp_path / "bikes.mkv"
    run_ffmpeg("-i", str(bikes), "-c", "copy", str(mkv))
    with av.open(str(mkv)) as c:
        assert c.streams.video[0].frames == 0  # Matroska stores no frame count
    assert probe(mkv).frames == 250


@pytest.mark.parametrize("sampler", [UniformSampler(8), FpsSampler(2.0, 16)])
def test_read_clip_matches_full_decode(bikes, bikes_frames, sampler):
    clip = read_clip(bikes, sampler)
    indices = sampler.indices(250, 25.0)
    expected = torch.from_numpy(bikes_frames[indices]).permute(0, 3, 1, 2).float() / 255.0
    assert clip.frames.dtype == torch.float32
    assert clip.frames.shape == (len(indices), 3, 272, 640)
    assert torch.equal(clip.frames, expected)
    assert clip.meta["indices"] == indices
    assert clip.meta["source_fps"] == 25.0
    assert clip.meta["source"] == str(bikes)
    assert clip.id == "bikes"


def test_read_clip_fps_is_sampled_rate(bikes):
    assert read_clip(bikes, {"name": "fps", "fps": 1, "max_frames": 16}).fps == pytest.approx(1.0)


def test_read_clip_max_side(bikes, bikes_frames, carphone):
    clip = read_clip(bikes, UniformSampler(2), max_side=320, clip_id="b")
    assert clip.frames.shape == (2, 3, 136, 320) and clip.id == "b"
    # The sampled frames (62, 187), shrunk with the antialiased bilinear filter: a wrong frame,
    # a filter without antialiasing or a half-pixel shift would all miss this.
    full = torch.from_numpy(bikes_frames[[62, 187]]).permute(0, 3, 1, 2).float() / 255.0
    expected = F.interpolate(full, size=(136, 320), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(clip.frames, expected.clamp(0, 1), rtol=0, atol=1e-5)
    # Already small enough: untouched, bit for bit.
    small = read_clip(carphone, UniformSampler(2), max_side=320)
    assert small.size == (144, 176)
    original = torch.from_numpy(full_decode(carphone)[small.meta["indices"]]).permute(0, 3, 1, 2).float() / 255.0
    assert torch.equal(small.frames, original)


def test_fit_size_even_and_bounded():
    assert fit_size(720, 1280, 200) == (112, 200)
    assert fit_size(272, 640, 320) == (136, 320)
    assert fit_size(100, 301, 301) == (100, 301)  # fits: unchanged, odd kept
    h, w = fit_size(333, 1001, 99)
    assert h % 2 == 0 and w % 2 == 0 and max(h, w) <= 99
    # by hand: 333 * 99 / 1001 = 32.9 -> even 32; 99 rounds to even 100 > 99 -> 98
    assert (h, w) == (32, 98)


def test_still_image_is_one_frame_clip(skimage_dir):
    clip = read_clip(skimage_dir / "astronaut.png", UniformSampler(8))
    assert clip.frames.shape == (1, 3, 512, 512) and clip.fps == 1.0
    info = probe(skimage_dir / "astronaut.png")
    assert (info.kind, info.frames, info.width, info.height) == ("image", 1, 512, 512)
    grey = read_clip(skimage_dir / "camera.png", UniformSampler(8), max_side=128)
    assert grey.frames.shape == (1, 3, 128, 128)
    assert torch.equal(grey.frames[:, 0], grey.frames[:, 2])  # grey to RGB


def test_corrupt_file_raises_media_error(corrupt_mp4):
    with pytest.raises(MediaError, match="noise.mp4"):
        probe(corrupt_mp4)
    with pytest.raises(MediaError, match="noise.mp4"):
        read_clip(corrupt_mp4, UniformSampler(4))


def test_missing_file_raises_media_error(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(MediaError, match=r"nope\.mp4.*not found"):
        read_clip(missing, UniformSampler(4))
    with pytest.raises(MediaError, match=r"nope\.png"):
        probe(tmp_path / "nope.png")


def test_text_and_audio_only_files(tmp_path, run_ffmpeg):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(MediaError, match="notes.mp4"):
        probe(text)
    audio = tmp_path / "tone.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "sine=d=0.5", str(audio))
    with pytest.raises(MediaError, match=r"tone\.mp4.*no video stream"):
        probe(audio)
    bad_png = tmp_path / "x.png"
    bad_png.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match=r"x\.png"):
        read_clip(bad_png, UniformSampler(1))


def test_truncated_video_uses_frames_that_exist(bikes, bikes_frames, tmp_path, caplog, run_ffmpeg):
    # Index at the front (faststart), then cut the data: the container still
    # reports 250 frames but only the first ones decode.
    whole = tmp_path / "whole.mp4"
    run_ffmpeg("-i", str(bikes), "-c", "copy", "-movflags", "+faststart", str(whole))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:150_000])
    assert probe(cut).frames == 250
    with caplog.at_level(logging.WARNING, logger="w2s.media.decode"):
        clip = read_clip(cut, UniformSampler(8))
    assert clip.num_frames == 8
    assert "decoded" in caplog.text
    # The first sampled frame (15) lies in the readable part.
    first = torch.from_numpy(bikes_frames[15]).permute(2, 0, 1).float() / 255.0
    assert torch.equal(clip.frames[0], first)
    # Later indices repeat the last frame that decoded.
    assert torch.equal(clip.frames[-1], clip.frames[-2])
