"""Frames handed to the Python API in memory: every common form scores alike, the rest is refused in one line."""

import numpy as np
import pytest
import torch

import w2s
from w2s.core.errors import InputError
from w2s.media.decode import read_clip
from w2s.media.frames_input import MIN_SIDE, clip_of_frames, to_frames
from w2s.testing.media import write_video

SAMPLER = {"name": "uniform", "num_frames": 4}


@pytest.fixture(scope="module")
def entropy():
    return w2s.load("pyiqa:entropy", device="cpu", sampler=SAMPLER)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A short real video, and its 4 sampled frames as uint8 (T, H, W, 3), as torchvision.io.read_video gives them."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("inputs") / "clip.mp4"
    write_video(path, [np.roll(base, 3 * i, axis=1) for i in range(8)])
    frames = read_clip(path, SAMPLER).frames  # float (T, 3, H, W), exactly k / 255
    thwc = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return path, thwc


def test_every_accepted_form_of_one_video_scores_as_its_file_does(entropy, video):
    path, thwc = video
    from_file = entropy(path)
    tchw_float = thwc.permute(0, 3, 1, 2).float() / 255
    forms = {
        "uint8 (T, H, W, C) tensor (torchvision.io.read_video)": thwc,
        "uint8 (T, H, W, C) array": thwc.numpy(),
        "uint8 (T, C, H, W) tensor": thwc.permute(0, 3, 1, 2),
        "uint8 (T, C, H, W) array": thwc.permute(0, 3, 1, 2).numpy(),
        "float (T, C, H, W) tensor": tchw_float,
        "float64 (T, C, H, W) array": tchw_float.double().numpy(),
        "float (T, H, W, C) tensor": tchw_float.permute(0, 2, 3, 1),
    }
    for name, x in forms.items():
        assert entropy(x) == pytest.approx(from_file, abs=1e-6), name
    # float16 rounds some pixels into the next of entropy's 256 bins: close, not equal
    assert entropy(tchw_float.permute(0, 2, 3, 1).half().numpy()) == pytest.approx(from_file, abs=0.01)


def test_one_image_is_a_one_frame_clip_in_either_layout(entropy, video):
    _, thwc = video
    one = entropy(thwc[:1])
    assert entropy(thwc[0]) == pytest.approx(one, abs=1e-6)  # (H, W, 3)
    assert entropy(thwc[0].permute(2, 0, 1).float() / 255) == pytest.approx(one, abs=1e-6)  # (3, H, W)
    assert entropy(thwc[0].numpy()) == pytest.approx(one, abs=1e-6)


def test_a_list_is_a_batch_with_one_score_each(entropy, video):
    path, thwc = video
    flat = np.full((2, 32, 32, 3), 128, dtype=np.uint8)
    scores = entropy([thwc, flat, str(path), thwc[0].numpy()])
    assert isinstance(scores, np.ndarray) and scores.shape == (4,)
    np.testing.assert_allclose(scores, [entropy(thwc), 0.0, entropy(path), entropy(thwc[0])], atol=1e-6)
    assert entropy(()).shape == (0,)


def test_the_conversion_is_exact_and_leaves_the_callers_array_alone():
    thwc = np.arange(2 * 8 * 10 * 3, dtype=np.int64).reshape(2, 8, 10, 3).astype(np.uint8)
    frames = to_frames(thwc)
    assert frames.dtype == torch.float32 and frames.shape == (2, 3, 8, 10)
    assert torch.equal(frames, torch.from_numpy(thwc).permute(0, 3, 1, 2).float() / 255)
    # a hair outside [0, 1] (after a resize, a colour conversion) is clamped, not refused; the caller's copy is kept
    floats = thwc.astype(np.float32) / 255
    floats[0, 0, 0, 0] = 1.0005
    assert float(to_frames(floats).max()) == 1.0 and floats[0, 0, 0, 0] == np.float32(1.0005)
    # frames in memory are shrunk to max_side as a file read with it is
    clip = clip_of_frames(np.zeros((1, 40, 80, 3), dtype=np.uint8), fps=10.0, max_side=20)
    assert clip.size == (10, 20) and clip.fps == 10.0 and clip.num_frames == 1


ACCEPTED = "pass RGB frames, uint8 in 0..255 or float in [0, 1], as a numpy array or torch tensor shaped (T, H, W, 3)"


@pytest.mark.parametrize("x, parts", [
    (np.zeros((4, 4, 4, 3), dtype=np.uint8),
     ["frames of shape (4, 4, 4, 3) and dtype uint8: frames of 4x4 pixels are too small to score",
      f"(each side must be at least {MIN_SIDE} pixels); pass larger frames, laid out (T, H, W, 3) or (T, 3, H, W)"]),
    (np.zeros((0, 240, 320, 3), dtype=np.uint8),
     ["frames of shape (0, 240, 320, 3) and dtype uint8: no frames (T = 0); " + ACCEPTED]),
    (torch.full((4, 3, 240, 320), float("nan")),
     ["frames of shape (4, 3, 240, 320) and dtype float32: holds NaN or infinite values; pass finite pixels in [0, 1]"]),
    (torch.full((4, 240, 320, 3), float("inf")), ["holds NaN or infinite values"]),
    (np.full((4, 240, 320, 3), 200.0, dtype=np.float32),
     ["frames of shape (4, 240, 320, 3) and dtype float32: float pixels must lie in [0, 1], and these do not; "
      "for 0..255 values divide by 255 (or pass them as uint8)"]),
    (torch.full((2, 3, 16, 16), -0.5), ["dtype float32: float pixels must lie in [0, 1]"]),
    (np.zeros((2, 16, 16, 3), dtype=np.int64),
     ["frames of shape (2, 16, 16, 3) and dtype int64: pixels must be uint8 (0..255) or float (0..1); convert them"]),
    (torch.zeros((2, 16, 16, 3), dtype=torch.bool), ["dtype bool: pixels must be uint8"]),
    (np.zeros((2, 3, 40, 3), dtype=np.uint8),
     ["frames of shape (2, 3, 40, 3) and dtype uint8: ambiguous layout, both axis 1 and axis 3 have size 3"]),
    (np.zeros((2, 40, 40, 4), dtype=np.uint8),
     ["frames of shape (2, 40, 40, 4) and dtype uint8: no colour axis of size 3", "for RGBA drop the alpha"]),
    (np.zeros((240, 320), dtype=np.uint8),
     ["frames of shape (240, 320) and dtype uint8: expected 3 axes (one image) or 4 (a video), got 2; " + ACCEPTED]),
    (np.zeros((2, 4, 32, 32, 3), dtype=np.uint8),
     ["expected 3 axes (one image) or 4 (a video), got 5; several videos go in a list, one array each"]),
    ({"frames": 1}, ["cannot score a dict: pass a video or image path, RGB frames", "or a list of these (one score each)"]),
    ([np.zeros((2, 32, 32, 3), dtype=np.uint8), 3],
     ["a list to score holds paths or frame arrays (one score each); item 1 is a int"]),
    ([np.zeros((2, 32, 32, 3), dtype=np.uint8), np.full((2, 32, 32, 3), 7.0)],
     ["item 1 of the list: frames of shape (2, 32, 32, 3) and dtype float64: float pixels must lie in [0, 1]"]),
])
def test_what_cannot_be_scored_is_refused_in_one_line_naming_shape_and_dtype(entropy, x, parts):
    with pytest.raises(InputError) as err:
        entropy(x)
    message = str(err.value)
    for part in parts:
        assert part in message
    # one line, and never the pixel values (a message once printed a whole 4x240x320x3 array)
    assert "\n" not in message and "array(" not in message and "tensor(" not in message and len(message) < 400


def test_score_files_refuses_arrays_without_printing_them(entropy):
    with pytest.raises(InputError, match=r"item 0 is a ndarray \(frames in memory: call the scorer on them\)$"):
        entropy.score_files([np.zeros((2, 32, 32, 3), dtype=np.uint8)], progress=False)
