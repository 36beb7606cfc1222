"""Long videos in constant memory: what benchmarks/memory.py relies on, checked without timing.

The reader must hold at most a few decoded frames at once whatever the video's length, turn
only the sampled frames into arrays, and stop decoding after the last one; the variants of a
clip (the codecs too) are made from its sampled frames, never from the whole source.
"""

from __future__ import annotations

import subprocess
import weakref

import numpy as np
import pytest

from w2s.media import decode
from w2s.media.samplers import FrameDifferenceSampler, UniformSampler

FRAMES = 1500  # a minute at 25 fps, tiny frames: long in frames, quick to make


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, run_ffmpeg):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=96x64:rate=25:duration={FRAMES / 25}",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    return path


class _Counter:
    """Counts the frames the decoder hands out, how many are alive at once, and their conversions."""

    def __init__(self):
        self.alive = 0
        self.peak = 0
        self.decoded = 0
        self.converted: list[int] = []

    def wrap(self, frame, index: int):
        proxy = _Frame(frame, index, self)
        self.alive += 1
        self.decoded += 1
        self.peak = max(self.peak, self.alive)
        weakref.finalize(proxy, self._gone)
        return proxy

    def _gone(self):
        self.alive -= 1


class _Frame:
    """A decoded frame that reports its conversions to an array (and, by dying, its release)."""

    def __init__(self, frame, index, counter):
        self._frame, self._index, self._counter = frame, index, counter

    def to_ndarray(self, *args, **kwargs):
        self._counter.converted.append(self._index)
        return self._frame.to_ndarray(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._frame, name)


class _Container:
    def __init__(self, container, counter):
        self._container, self._counter = container, counter

    def decode(self, stream):
        for i, frame in enumerate(self._container.decode(stream)):
            yield self._counter.wrap(frame, i)

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)


@pytest.fixture
def counter(monkeypatch):
    counter = _Counter()
    real_open = decode._open_video

    def counting_open(path):
        container, stream = real_open(path)
        return _Container(container, counter), stream

    real_reformatter = decode.VideoReformatter

    class Reformatter:  # the change signal's scaler takes the real frame
        def __init__(self):
            self._scaler = real_reformatter()

        def reformat(self, frame, *args, **kwargs):
            return self._scaler.reformat(getattr(frame, "_frame", frame), *args, **kwargs)

    monkeypatch.setattr(decode, "_open_video", counting_open)
    monkeypatch.setattr(decode, "VideoReformatter", Reformatter)
    return counter


def test_only_the_sampled_frames_become_arrays_and_few_frames_live_at_once(long_video, counter):
    sampler = UniformSampler(4)
    clip = decode.read_clip(long_video, sampler)
    wanted = sampler.indices(FRAMES, 25.0)
    assert wanted == [187, 562, 937, 1312]  # the centres of four equal segments of 1500 frames
    assert clip.meta["indices"] == wanted and clip.frames.shape == (4, 3, 64, 96)
    assert counter.converted == wanted  # no other frame was turned into pixels
    assert counter.decoded == wanted[-1] + 1  # decoding stopped after the last sampled frame
    assert counter.peak <= 2  # each decoded frame is dropped before the next one arrives
    assert counter.alive == 0


def test_the_change_signal_pass_keeps_no_frames_either(long_video, counter):
    clip = decode.read_clip(long_video, FrameDifferenceSampler(4))
    assert clip.num_frames == 4 and len(clip.meta["frame_difference"]) == 4
    # one full pass for the signal (grey thumbnails, no rgb arrays), then the sampled frames
    picks = clip.meta["indices"]
    assert counter.converted == picks
    assert counter.decoded == FRAMES + picks[-1] + 1
    assert counter.peak <= 2 and counter.alive == 0


def test_codec_variants_encode_the_sampled_frames_only(long_video, monkeypatch):
    from distortions.codec import H264

    clip = decode.read_clip(long_video, UniformSampler(4))
    fed = []
    real_run = subprocess.run

    def spy(cmd, *args, input=None, **kwargs):  # subprocess's own keyword
        if input is not None:
            fed.append(len(input))
        return real_run(cmd, *args, input=input, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    h264 = H264()
    variant = h264.apply(clip, h264.params(2, seed=0))
    assert variant.frames.shape == clip.frames.shape
    assert fed == [4 * 64 * 96 * 3]  # the encoder's stdin: the 4 sampled rgb frames, not 1500
    assert np.isfinite(variant.frames.numpy()).all()
