import pytest

from w2s.errors import ConfigError, W2SError
from w2s.media.samplers import FpsSampler, UniformSampler, make_sampler, sampled_fps


@pytest.mark.parametrize(
    "n, frames, expected",
    [
        (4, 10, [1, 3, 6, 8]),  # centres of [0,2.5) [2.5,5) [5,7.5) [7.5,10)
        (1, 10, [5]),
        (8, 5, [0, 1, 2, 3, 4]),  # fewer frames than asked: all of them
        (3, 1, [0]),
        (3, 0, []),
        (2, 250, [62, 187]),
    ],
)
def test_uniform(n, frames, expected):
    assert UniformSampler(n).indices(frames, 25.0) == expected


def test_fps_one_per_second():
    assert FpsSampler(1.0, 16).indices(250, 25.0) == list(range(0, 250, 25))


def test_fps_caps_at_max_frames_spread_uniformly():
    # 10 candidates 0, 25, ..., 225; keep the centres of 4 equal groups: positions 1, 3, 6, 8.
    assert FpsSampler(1.0, 4).indices(250, 25.0) == [25, 75, 150, 200]
    # 2 fps at 25 fps: candidates round(12.5 k) half up -> 0, 13, 25, 38, ... (20 of them);
    # positions 2, 7, 12, 17 -> 25, 88, 150, 213.
    assert FpsSampler(2.0, 4).indices(250, 25.0) == [25, 88, 150, 213]


def test_fps_ntsc_rate_takes_nearest_frame():
    assert FpsSampler(1.0, 16).indices(120, 30000 / 1001) == [0, 30, 60, 90]


def test_fps_short_clip_and_single_frame():
    assert FpsSampler(1.0, 16).indices(20, 25.0) == [0]  # 0.8 s < 1 s
    assert FpsSampler(1.0, 16).indices(1, 25.0) == [0]
    assert FpsSampler(1.0, 16).indices(0, 25.0) == []


def test_fps_above_source_rate_gives_every_frame_once():
    assert FpsSampler(50.0, 100).indices(10, 25.0) == list(range(10))


def test_sampled_fps():
    assert sampled_fps([0, 25, 50], 25.0) == 1.0
    assert sampled_fps([7], 25.0) == 25.0
    assert sampled_fps([1, 3, 6, 8], 25.0) == pytest.approx(25.0 / (7 / 3))


def test_make_sampler_builds_and_round_trips():
    s = make_sampler({"name": "uniform", "num_frames": 8})
    assert isinstance(s, UniformSampler) and s.num_frames == 8
    f = make_sampler({"name": "fps", "fps": 1, "max_frames": 16})
    assert isinstance(f, FpsSampler) and f.fps == 1.0 and f.max_frames == 16
    assert make_sampler(f.spec()).indices(250, 25.0) == f.indices(250, 25.0)
    assert make_sampler(s) is s


def test_make_sampler_unknown_name_suggests():
    with pytest.raises(W2SError, match=r"'unifrom'.*did you mean 'uniform'"):
        make_sampler({"name": "unifrom"})


def test_make_sampler_unknown_key_named():
    with pytest.raises(ConfigError, match="'frames'"):
        make_sampler({"name": "uniform", "frames": 8})


@pytest.mark.parametrize(
    "spec",
    [{"num_frames": 8}, {"name": "uniform", "num_frames": 0}, {"name": "fps", "fps": -1}, "uniform"],
)
def test_make_sampler_bad_specs(spec):
    with pytest.raises(W2SError):
        make_sampler(spec)
