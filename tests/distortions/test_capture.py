"""Camera-capture families: kernels, exposure and cast against hand-computed values, severity order on a
real photo, replay, and one distortion for every frame of a clip."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from distortions import DISTORTIONS
from distortions.capture import STAGES
from distortions.light import GAMMA, LUMINANCE, cast_gains
from distortions.lowlight import denoise_sigma
from distortions.optics import disk_kernel, shake_kernel, shake_path
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

CAPTURE = ["defocus", "shake", "lowlight", "exposure", "wb", "jpeg2x", "halo", "capture"]
DRAWS = ["shake", "lowlight", "wb", "jpeg2x", "capture"]  # families with something random in their params


def make(name, ladder=None):
    return DISTORTIONS.resolve(name)(ladder)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def flat(value: float, t=2, h=48, w=48) -> Clip:
    return Clip("flat", torch.full((t, 3, h, w), value), fps=25.0)


@pytest.fixture(scope="module")
def photo() -> Clip:
    """scikit-image's astronaut (512x512, shipped with the package), downscaled to 128x128, one frame."""
    data = pytest.importorskip("skimage.data")
    x = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float().div(255)[None]
    x = F.interpolate(x, size=(128, 128), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return Clip("astronaut", x.contiguous(), fps=25.0)


# -- every family -----------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURE)
def test_registered_and_aligned(name):
    d = make(name)
    assert d.name == name and d.levels == 4
    # same geometry as the clean clip: a full-reference teacher may score every one of them
    assert type(d).aligned is True


@pytest.mark.parametrize("name", CAPTURE)
def test_psnr_falls_with_level_on_a_photo(name, photo):
    d = make(name)
    for seed in ([0, 1, 2, 3, 4, 5] if name == "capture" else [0, 1]):
        values = [psnr(d.apply(photo, d.params(lv, seed)).frames, photo.frames) for lv in range(1, 5)]
        assert all(a > b for a, b in pairwise(values)), (name, seed, values)
        assert values[0] < float("inf")


@pytest.mark.parametrize("name", CAPTURE)
def test_same_seed_same_output_and_seed_matters_only_where_drawn(name, photo):
    d = make(name)
    a, b = d.apply(photo, d.params(3, 7)), make(name).apply(photo, d.params(3, 7))
    assert torch.equal(a.frames, b.frames)
    other = d.apply(photo, d.params(3, 8)).frames
    assert torch.equal(a.frames, other) is (name not in DRAWS)


@pytest.mark.parametrize("name", CAPTURE)
def test_shape_dtype_and_range_kept(name):
    g = torch.Generator().manual_seed(0)
    clip = Clip("r", torch.rand(2, 3, 37, 53, generator=g), fps=25.0)
    for level in (1, 4):
        out = make(name).apply(clip, make(name).params(level, 3))
        assert out.frames.shape == (2, 3, 37, 53) and out.frames.dtype == torch.float32
        assert out.frames.min().item() >= 0.0 and out.frames.max().item() <= 1.0
        assert out.id == "r"


@pytest.mark.parametrize("name", CAPTURE)
def test_every_frame_gets_the_same_distortion(name, photo):
    """A still shot as a 3-frame clip: identical frames come out identical (no flicker); the sensor
    noise of lowlight is drawn anew for every frame, as a real sensor's is, with the same statistics."""
    static = Clip("static", photo.frames.repeat(3, 1, 1, 1), fps=25.0)
    d = make(name)
    for seed in range(4):
        p = d.params(4, seed)
        out = d.apply(static, p).frames
        noisy = name == "lowlight" or any(s["family"] == "lowlight" for s in p.get("steps", []))
        if not noisy:
            assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])
            continue
        assert not torch.equal(out[0], out[1])
        err = (out - static.frames).flatten(1)
        means, stds = err.mean(1), err.std(1)
        assert (means.max() - means.min()).item() < 0.005, means  # flicker moves a frame by 0.05 or more
        assert (stds.max() / stds.min()).item() < 1.03, stds


def test_tiny_frames_fall_back_from_reflect_padding():
    # a 5x6 frame is narrower than a 16 px shake or a 5 px disk can reflect
    clip = Clip("tiny", torch.rand(1, 3, 5, 6, generator=torch.Generator().manual_seed(1)), fps=25.0)
    for name in ("defocus", "shake"):
        d = make(name)
        out = d.apply(clip, d.params(4, 0)).frames
        assert out.shape == (1, 3, 5, 6) and not torch.equal(out, clip.frames)


@pytest.mark.parametrize(
    "name, ladder, fragment",
    [
        ("defocus", [0.5], "radius must be in (0.5, 64] pixels"),
        ("defocus", [3.0, 2.0], "2.0 follows 3.0"),
        ("shake", [0], "path length must be in (0, 128] pixels"),
        ("lowlight", [1.0], "fraction of light must be in [0.001, 1)"),
        ("lowlight", [0.3, 0.5], "0.5 follows 0.3"),
        ("exposure", [1.0], "gain must be in (1, 16]"),
        ("wb", [0.0], "log-gain must be in (0, 1]"),
        ("jpeg2x", [101], "quality must be an integer in 1..100"),
        ("jpeg2x", [30, 50], "50 follows 30"),
        ("halo", [12.0], "amount must be in (0, 10]"),
        ("capture", [5], "severity must be an integer in 1..4"),
        ("capture", [1.5], "must be an integer severity"),
    ],
)
def test_bad_ladder_names_family_and_range(name, ladder, fragment):
    with pytest.raises(W2SError) as err:
        make(name, ladder)
    msg = str(err.value)
    assert msg.startswith(f"{name}:") and fragment in msg and "\n" not in msg, msg


# -- defocus ----------------------------------------------------------------


@pytest.mark.parametrize("radius", [1.0, 2.0, 2.5, 3.0, 5.0])
def test_disk_kernel_sums_to_one_and_has_the_disks_symmetry(radius):
    k = disk_kernel(radius)
    half = max(1, math.ceil(radius - 0.5))
    assert k.shape == (2 * half + 1, 2 * half + 1)
    assert abs(k.sum().item() - 1) < 1e-6
    assert torch.equal(k, k.flip(0)) and torch.equal(k, k.flip(1)) and torch.equal(k, k.T)
    # a pixel wholly inside the disk weighs 1 / (pi r^2); the outermost ring is only partly covered
    assert k[half, half].item() * math.pi * radius**2 == pytest.approx(1, rel=0.01)
    assert 0 < k[half, 0].item() < k[half, half].item()


def test_defocus_keeps_a_constant_and_spreads_a_point_into_the_disk():
    d = make("defocus")
    out = d.apply(flat(0.37), d.params(4, 0)).frames
    assert torch.allclose(out, torch.full_like(out, 0.37), atol=1e-6)
    point = torch.zeros(1, 3, 21, 21)
    point[..., 10, 10] = 1.0
    out = d.apply(Clip("p", point, 25.0), d.params(3, 0)).frames[0, 0]
    assert torch.allclose(out[7:14, 7:14], disk_kernel(3.0), atol=1e-7)
    assert out[:7].abs().max().item() == 0


# -- shake ------------------------------------------------------------------


def test_straight_shake_kernel_is_a_line_of_the_configured_length():
    # 6 px at 0 degrees: 49 samples 1/8 px apart from -3 to 3, splatted bilinearly. An inner pixel
    # gathers 1 + 2 * (7/8 + 6/8 + ... + 1/8) = 8 samples' weight, each end pixel 1 + 3.5 = 4.5
    k = shake_kernel(6.0, 0.0, 0.0)
    half = k.shape[0] // 2
    row = torch.tensor([4.5, 8, 8, 8, 8, 8, 4.5]) / 49
    assert torch.allclose(k[half, half - 3 : half + 4], row, atol=1e-7)
    assert k.sum().item() == pytest.approx(1, abs=1e-6)
    assert (k > 0).sum().item() == 7  # nothing off the line: it spans exactly L + 1 pixels
    assert torch.equal(shake_kernel(6.0, 90.0, 0.0), k.T)


@pytest.mark.parametrize("seed", range(5))
def test_seeded_shake_kernel_sums_to_one_is_centred_and_as_long_as_configured(seed):
    d = make("shake")
    p = d.params(4, seed)
    length = p["strength"]
    x, y = shake_path(length, p["angle"], p["bend"])
    steps = ((x[1:] - x[:-1]) ** 2 + (y[1:] - y[:-1]) ** 2) ** 0.5
    assert steps.sum() == pytest.approx(length, abs=1e-4)
    k = shake_kernel(length, p["angle"], p["bend"]).double()
    assert k.sum().item() == pytest.approx(1, abs=1e-6)
    half = k.shape[0] // 2
    pos = torch.arange(-half, half + 1, dtype=torch.float64)
    assert abs((k.sum(0) * pos).sum().item()) < 1e-5 and abs((k.sum(1) * pos).sum().item()) < 1e-5
    # its support reaches from one end of the arc to the other, no further than the path is long
    iy, ix = torch.nonzero(k > 0, as_tuple=True)
    pts = torch.stack([iy, ix], 1).double()
    extent = torch.cdist(pts, pts).max().item()
    chord = math.hypot(x[-1] - x[0], y[-1] - y[0])
    assert chord - 1e-6 <= extent <= length + 2 * math.sqrt(2)
    assert chord >= length * 0.95  # a bend of at most 60 degrees keeps the ends apart


def test_shake_shape_is_the_same_at_every_level():
    d = make("shake")
    drawn = [{k: v for k, v in d.params(lv, 3).items() if k not in ("level", "strength")} for lv in (1, 4)]
    assert drawn[0] == drawn[1]
    assert len({(d.params(1, s)["angle"], d.params(1, s)["bend"]) for s in range(5)}) == 5


# -- lowlight ---------------------------------------------------------------


def test_lowlight_keeps_grey_and_grows_noisier_with_level():
    d = make("lowlight")
    grey = flat(0.5, t=2, h=64, w=64)
    stds = []
    for level in range(1, 5):
        out = d.apply(grey, d.params(level, 0)).frames
        assert abs(out.mean().item() - 0.5) < 0.005, (level, out.mean().item())
        stds.append(out.std().item())
    assert all(a < b for a, b in pairwise(stds)), stds
    assert stds[0] > 0.01 and stds[-1] < 0.06, stds  # visible grain, still a picture


def test_lowlight_denoise_widens_with_the_gain():
    assert denoise_sigma(0.5) == 0.65
    assert denoise_sigma(0.08) == round(0.5 + 0.15 * math.log2(12.5), 4)
    p = make("lowlight").params(4, 0)
    assert p["denoise_sigma"] == denoise_sigma(0.08) and p["photons"] == 300.0


# -- exposure ---------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_exposure_is_a_clipped_gain_in_linear_light(level):
    d = make("exposure")
    g = d.ladder[level - 1]
    v = torch.tensor([0.0, 0.05, 0.2, 0.35, 0.5, 0.8, 1.0])  # linear light
    clip = Clip("ramp", v.pow(1 / GAMMA).view(1, 1, 1, -1).expand(1, 3, 2, -1).contiguous(), 25.0)
    out = d.apply(clip, d.params(level, 0)).frames[0, 0, 0]
    assert torch.allclose(out, (v * g).clamp(max=1).pow(1 / GAMMA), atol=1e-6)


# -- white balance -------------------------------------------------------------


def test_cast_gains_by_hand():
    s = 0.2
    r, g, b = cast_gains(s, 0.0)  # warm
    assert math.log(r / b) == pytest.approx(s * math.sqrt(2)) and r > 1 > b
    r, g, b = cast_gains(s, 90.0)  # green
    assert r == pytest.approx(b) and math.log(g / r) == pytest.approx(3 * s / math.sqrt(6))
    for direction in (0.0, 45.0, 180.0, 270.0, 333.3):
        assert sum(w * x for w, x in zip(LUMINANCE, cast_gains(0.35, direction))) == pytest.approx(1, abs=1e-12)


def test_wb_keeps_grey_luminance_exactly():
    d = make("wb")
    out = d.apply(flat(0.5), d.params(4, 2)).frames
    lum = sum(w * out[:, c].pow(GAMMA) for c, w in enumerate(LUMINANCE))
    assert torch.allclose(lum, torch.full_like(lum, 0.5**GAMMA), atol=1e-5)
    assert not torch.allclose(out[:, 0], out[:, 2], atol=1e-3)  # and grey is no longer grey


@pytest.mark.parametrize("seed", range(4))
def test_wb_keeps_the_photos_luminance_and_moves_its_colour_the_seeded_way(seed, photo):
    d = make("wb")
    phi = math.radians(d.params(1, seed)["direction"])

    def stats(x):
        m = x.pow(GAMMA).mean(dim=(0, 2, 3)).double()
        lum = sum(w * c for w, c in zip(LUMINANCE, m)).item()
        return lum, math.log(m[0] / m[2]), math.log(m[1] ** 2 / (m[0] * m[2]))

    lum0, warm0, green0 = stats(photo.frames)
    for level in range(1, 5):
        s = d.ladder[level - 1]
        lum, warm, green = stats(d.apply(photo, d.params(level, seed)).frames)
        # grey keeps its luminance exactly (above); a coloured photo within 5% (measured: the orange
        # suit loses 3.9% under the strongest green cast)
        assert lum == pytest.approx(lum0, rel=0.05), (level, lum, lum0)
        # constant channel gains scale the channel means: log(R/B) moves by s * sqrt(2) * cos(phi) and
        # log(G^2 / RB) by s * sqrt(6) * sin(phi), up to the few highlights that clip
        assert warm - warm0 == pytest.approx(s * math.sqrt(2) * math.cos(phi), abs=0.001 + 0.02 * s)
        assert green - green0 == pytest.approx(s * math.sqrt(6) * math.sin(phi), abs=0.001 + 0.02 * s)


# -- double JPEG --------------------------------------------------------------


def test_jpeg2x_draws_in_range():
    d = make("jpeg2x")
    ps = [d.params(1, s) for s in range(60)]
    assert {p["first_quality"] for p in ps} <= set(range(70, 91))
    assert {p["dy"] for p in ps} | {p["dx"] for p in ps} == set(range(1, 8))


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_jpeg2x_is_worse_than_one_jpeg_at_the_same_final_quality(level, photo):
    d = make("jpeg2x")
    p = d.params(level, 0)
    single = make("jpeg", [p["strength"]])
    once = single.apply(photo, single.params(1, 0)).frames
    twice = d.apply(photo, p).frames
    assert not torch.equal(once, twice)
    assert psnr(twice, photo.frames) < psnr(once, photo.frames)


def test_jpeg2x_keeps_every_pixel_in_place():
    # at second quality 100 the shifted re-encode is nearly lossless: the result is the first pass,
    # pixel for pixel (a crop one pixel off would score some 20 dB lower on this photo)
    data = pytest.importorskip("skimage.data")
    x = torch.from_numpy(data.astronaut()[:96, :128]).permute(2, 0, 1).float().div(255)[None]
    clip = Clip("a", x.contiguous(), 25.0)
    d = make("jpeg2x", [100])
    p = d.params(1, 4)
    first = make("jpeg", [p["first_quality"]])
    once = first.apply(clip, first.params(1, 0)).frames
    assert psnr(d.apply(clip, p).frames, once) > 40


# -- halo --------------------------------------------------------------------


def edge(low=0.45, high=0.55, w=40) -> Clip:
    x = torch.full((2, 3, 16, w), low)
    x[..., w // 2 :] = high
    return Clip("edge", x, fps=25.0)


def test_halo_overshoot_grows_in_proportion_to_the_amount():
    d = make("halo")
    clip = edge()
    over = []
    for level in range(1, 5):
        out = d.apply(clip, d.params(level, 0)).frames
        over.append((out.max().item() - 0.55, 0.45 - out.min().item()))
    amounts = d.ladder
    for (up, down), a in zip(over, amounts):
        assert up / a == pytest.approx(over[0][0] / amounts[0], rel=1e-4)
        assert down == pytest.approx(up, rel=1e-3)  # symmetric about the edge
    assert over[0][0] > 0.02


def test_halo_is_wider_than_sharpen():
    clip = edge()
    row = {}
    for name in ("halo", "sharpen"):
        d = make(name, [1.0])
        row[name] = d.apply(clip, d.params(1, 0)).frames[0, 0, 8] - 0.55
    # 4 px into the bright side the wide mask still overshoots by over a tenth of its peak
    assert row["halo"][24].item() > 0.1 * row["halo"][20].item() > 0
    assert row["sharpen"][24].item() < 0.02 * row["sharpen"][20].item()


def test_halo_sharpens_luma_only():
    # red | green of equal BT.601 luma: no luma edge, so no halo and no colour fringe
    x = torch.zeros(1, 3, 8, 24)
    x[0, 0, :, :12] = 0.587
    x[0, 1, :, 12:] = 0.299
    d = make("halo")
    out = d.apply(Clip("rg", x, 25.0), d.params(4, 0)).frames
    assert torch.allclose(out, x, atol=1e-6)


# -- capture chain -------------------------------------------------------------


def test_capture_picks_two_or_three_stages_in_capture_order():
    d = make("capture")
    order = {f: i for i, stage in enumerate(STAGES) for f in stage}
    seen, counts = set(), set()
    for seed in range(40):
        fams = [f for f, _ in d.pick(seed)]
        stages = [order[f] for f in fams]
        assert 2 <= len(fams) <= 3 and stages == sorted(set(stages))
        seen |= set(fams)
        counts.add(len(fams))
        per_level = [[s["family"] for s in d.params(lv, seed)["steps"]] for lv in range(1, 5)]
        assert all(fl == fams for fl in per_level)
    assert seen == set(order) and counts == {2, 3}


def test_capture_is_its_steps_at_matched_levels_applied_in_order(photo):
    d = make("capture")
    for seed in (0, 1):
        p = d.params(3, seed)
        x = photo
        for step in p["steps"]:
            fam = make(step["family"])
            assert step["params"]["strength"] == fam.ladder[2] and step["params"]["level"] == 3
            x = fam.apply(x, step["params"])
        assert torch.equal(d.apply(photo, p).frames, x.frames)


def test_capture_refuses_steps_it_does_not_know():
    d = make("capture")
    p = dict(d.params(1, 0), steps=[{"family": "h264", "params": {}}])
    with pytest.raises(W2SError, match=r"^capture: params steps .* must list"):
        d.apply(flat(0.5, t=1), p)
