import pytest

from w2s.core.errors import ConfigError, W2SError
from w2s.media.samplers import (
    FpsSampler,
    FragmentSampler,
    FrameDifferenceSampler,
    UniformSampler,
    make_sampler,
    sampled_fps,
)


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
    "spec, named",
    [
        ({"num_frames": 8}, r"missing key 'name' \(one of \['fps', 'fragments', 'frame_difference', 'uniform'\]\)"),
        ({"name": "uniform", "num_frames": 0}, r"sampler 'uniform': num_frames must be an integer >= 1, got 0"),
        ({"name": "fps", "fps": -1}, r"sampler 'fps': fps must be a positive number, got -1"),
        ("uniform", r"expected a dict like \{'name': 'uniform', 'num_frames': 8\}, got 'uniform'"),
    ],
)
def test_make_sampler_bad_specs(spec, named):
    # a config error, and one that says what is wrong (any W2SError at all used to pass)
    with pytest.raises(ConfigError, match=named):
        make_sampler(spec)


# --- frame_difference: the rule on hand-made signals (real clips: test_media_sampler_content.py)


def spike(n: int, **at: float) -> list[float]:
    diffs = [0.0] * n
    for key, value in at.items():
        diffs[int(key[1:])] = value
    return diffs


@pytest.mark.parametrize("n, k", [(10, 4), (250, 8), (40, 4), (7, 7), (3, 5), (1, 3), (0, 2)])
def test_frame_difference_flat_signal_is_uniform(n, k):
    sampler = FrameDifferenceSampler(k)
    assert sampler.indices_from_signal([0.0] * n, 25.0) == UniformSampler(k).indices(n, 25.0)
    assert sampler.indices_from_signal([2.5] * n, 25.0) == UniformSampler(k).indices(n, 25.0)
    assert sampler.indices(n, 25.0) == UniformSampler(k).indices(n, 25.0)  # no signal: uniform


def test_frame_difference_takes_each_segments_largest_change():
    # 40 frames, 4 segments [0,10) [10,20) [20,30) [30,40) around uniform frames 5, 15, 25, 35.
    diffs = spike(40, f3=1.0, f12=2.0, f27=9.0, f33=0.5)
    assert FrameDifferenceSampler(4).indices_from_signal(diffs, 25.0) == [3, 12, 27, 33]


def test_frame_difference_keeps_picks_apart_at_a_cut():
    # A cut at 20 (and its echo at 19): the strongest segment picks 20 first; the
    # segment before may not take 19 (closer than (40 // 4) // 2 = 5), so it falls back
    # to its largest change at least 5 away, here the flat part: its centre 15.
    diffs = spike(40, f19=5.0, f20=10.0)
    assert FrameDifferenceSampler(4).indices_from_signal(diffs, 25.0) == [5, 15, 20, 35]
    # With motion elsewhere in that segment, that motion is taken instead.
    diffs[11] = 1.0
    assert FrameDifferenceSampler(4).indices_from_signal(diffs, 25.0) == [5, 11, 20, 35]


def test_frame_difference_ties_go_to_the_centre():
    diffs = spike(40, f1=3.0, f8=3.0, f24=1.0, f26=1.0)
    # Segment 0 (centre 5): 1 and 8 tie, 8 is nearer; segment 2 (centre 25): 24 and 26 tie
    # at distance 1, the earlier wins.
    assert FrameDifferenceSampler(4).indices_from_signal(diffs, 25.0) == [8, 15, 24, 35]


def test_frame_difference_rejects_bad_signals():
    with pytest.raises(ValueError, match="finite"):
        FrameDifferenceSampler(2).indices_from_signal([0.0, float("nan"), 1.0], 25.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        FrameDifferenceSampler(2).indices_from_signal([[0.0, 1.0]], 25.0)


# --- fragments: index and layout rules (pixels: test_media_sampler_content.py)


def test_fragments_indices_are_uniform():
    assert FragmentSampler(4).indices(10, 25.0) == [1, 3, 6, 8]
    assert FragmentSampler(8).indices(1, 25.0) == [0]


@pytest.mark.parametrize(
    "size, resized",
    [
        ((272, 640), (272, 640)),  # shorter side >= 7 * 32 = 224: native
        ((224, 224), (224, 224)),
        ((144, 176), (224, 274)),  # upscaled so the shorter side is 224, aspect kept
        ((300, 200), (336, 224)),
        ((100, 1000), (224, 2240)),
        ((1, 1), (224, 224)),
    ],
)
def test_fragments_resized(size, resized):
    assert FragmentSampler(4, grid=7, patch=32).resized(*size) == resized


def test_fragments_layout_deterministic_in_cells():
    sampler = FragmentSampler(4, grid=7, patch=32)
    (h, w), positions = sampler.layout(1080, 1920, "video_a")
    assert (h, w) == (1080, 1920) and len(positions) == 49
    for k, (y, x) in enumerate(positions):  # row by row, each patch inside its cell
        i, j = divmod(k, 7)
        assert i * h // 7 <= y <= (i + 1) * h // 7 - 32
        assert j * w // 7 <= x <= (j + 1) * w // 7 - 32
    assert sampler.layout(1080, 1920, "video_a") == ((h, w), positions)
    assert FragmentSampler(8, grid=7, patch=32).layout(1080, 1920, "video_a")[1] == positions  # not num_frames
    assert sampler.layout(1080, 1920, "video_b")[1] != positions
    assert FragmentSampler(4, grid=7, patch=32, seed=1).layout(1080, 1920, "video_a")[1] != positions
    # Cells exactly one patch wide leave no choice.
    assert FragmentSampler(1, grid=2, patch=4).layout(8, 8, "x")[1] == [(0, 0), (0, 4), (4, 0), (4, 4)]


# --- config: keys, values, spec and repr of every sampler


@pytest.mark.parametrize(
    "spec, text",
    [
        ({"name": "uniform", "num_frames": 8}, "UniformSampler(num_frames=8)"),
        ({"name": "fps", "fps": 1.0, "max_frames": 16}, "FpsSampler(fps=1.0, max_frames=16)"),
        ({"name": "frame_difference", "num_frames": 8}, "FrameDifferenceSampler(num_frames=8)"),
        (
            {"name": "fragments", "num_frames": 8, "grid": 7, "patch": 32, "seed": 0},
            "FragmentSampler(num_frames=8, grid=7, patch=32, seed=0)",
        ),
    ],
)
def test_spec_and_repr_round_trip(spec, text):
    sampler = make_sampler(spec)
    assert sampler.spec() == spec and repr(sampler) == text
    assert make_sampler(sampler.spec()).spec() == spec


def test_new_sampler_defaults():
    assert make_sampler({"name": "frame_difference"}).spec() == {"name": "frame_difference", "num_frames": 8}
    assert make_sampler({"name": "fragments", "num_frames": 4}).spec() == {
        "name": "fragments", "num_frames": 4, "grid": 7, "patch": 32, "seed": 0,
    }


@pytest.mark.parametrize(
    "spec, named",
    [
        ({"name": "frame_difference", "num_frames": 0}, r"num_frames.*\b0\b"),
        ({"name": "frame_difference", "num_frames": "8"}, r"num_frames.*'8'"),
        ({"name": "frame_difference", "num_frames": True}, r"num_frames.*True"),
        ({"name": "frame_difference", "threshold": 3}, r"'threshold'"),
        ({"name": "fragments", "grid": 0}, r"grid.*\b0\b"),
        ({"name": "fragments", "patch": 1.5}, r"patch.*1\.5"),
        ({"name": "fragments", "patch": -32}, r"patch.*-32"),
        ({"name": "fragments", "grid": 7, "patch": 5}, r"even.*grid=7, patch=5"),
        ({"name": "fragments", "seed": "a"}, r"seed.*'a'"),
        ({"name": "fragments", "size": 224}, r"'size'"),
        ({"name": "fragment", "num_frames": 8}, r"did you mean 'fragments'"),
    ],
)
def test_new_sampler_bad_values_name_key_and_value(spec, named):
    with pytest.raises(ConfigError, match=named):
        make_sampler(spec)
