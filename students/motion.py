"""Motion features: how a clip changes over time, in a dozen numbers.

A frozen image backbone sees every frame alone and averages over time, so it
is blind to the temporal distortions: a dropped-and-repeated frame (stutter),
camera shake (jitter), brightness flicker. :func:`motion_features` measures
them from the sampled frames directly, on BT.601 luma shrunk (area filter) so
its longer side is at most ``WORK_SIDE`` pixels: the numbers then hardly
depend on the resolution, and the shrink averages away codec and sensor noise.

With ``Y_t`` that luma (t = 0..T-1), ``d_t = mean_pixels |Y_t - Y_{t-1}|``
(t = 1..T-1, luma in [0, 1]), ``m_t = mean_pixels Y_t``, ``g`` the mean
gradient magnitude of the frames and ``s_t`` the global translation from
frame t-1 to t (phase correlation, as a fraction of the frame's height and
width), the features are, in this order (``MOTION_FEATURES``):

==================  ==========================================  =====================================================
name                value                                       why
==================  ==========================================  =====================================================
diff_mean           mean_t d_t                                  temporal activity: content motion, and the extra
                                                                change that shake (jitter) adds to every step
diff_std            std_t d_t                                   irregular steps: stutter alternates repeats (0) and
                                                                double-length jumps; random shake varies each step
diff_max            max_t d_t                                   the largest jump: after a run of dropped frames the
                                                                next shown frame jumps further
diff_min_ratio      min_t d_t / mean_t d_t                      0 when some frame repeats the previous one, near 1
                                                                for steady motion; a repeat blurred by a codec still
                                                                gives a small value where repeat_fraction misses it
repeat_fraction     share of steps with d_t < REPEAT_EPS        repeated frames (stutter, a frame-rate drop padded
                                                                by repeats); the direct count of the damage
diff_cv             std_t d_t / mean_t d_t                      jerkiness without the scale of the motion: smooth
                                                                motion has steady steps whatever its speed
apparent_motion     mean_t d_t / g / (longer side of Y)         d_t ~ |grad Y| * motion (brightness constancy), so
                                                                this is roughly the motion per step as a fraction of
                                                                the frame, less dependent on texture than diff_mean
shift_mean          mean_t |s_t|                                global (camera) motion per step
shift_accel         mean_t |s_t - s_{t-1}|                      shake: a steady pan keeps s_t constant (0 here);
                                                                jitter draws a new shift every frame
shift_std           std_t |s_t|                                 uneven camera motion (shake, stutter's 0-then-double)
luma_change         mean_t |m_t - m_{t-1}|                      brightness changes: flicker, fades, exposure hunting
luma_alternation    mean_t |m_{t+1} - 2 m_t + m_{t-1}|          flicker proper: its sign alternates frame to frame,
                                                                while a steady fade has no second difference
==================  ==========================================  =====================================================

Standard deviations are population ones (divide by the count), so a single
step has std 0, not NaN. A clip of one frame has no time axis: every feature
is 0 (the value of a perfectly still clip, except ``repeat_fraction``, which
is 0 rather than 1 so that a still image is not scored as a stuttering video).
Features that need two steps (``shift_accel``, ``luma_alternation``) are 0 for
a two-frame clip.

A second, optional feature works on any backbone that gives per-frame
features: :func:`temporal_feature_change`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MOTION_FEATURES: tuple[str, ...] = (
    "diff_mean",
    "diff_std",
    "diff_max",
    "diff_min_ratio",
    "repeat_fraction",
    "diff_cv",
    "apparent_motion",
    "shift_mean",
    "shift_accel",
    "shift_std",
    "luma_change",
    "luma_alternation",
)
MOTION_DIM = len(MOTION_FEATURES)

# longer side of the luma the features are measured on (only shrinks, never enlarges)
WORK_SIDE = 256
# a step whose mean absolute luma change is below this is a repeated frame: a quarter
# of one 8-bit grey level on average, far below the real motion between sampled frames
# (the smallest step of 31 clean sample clips is 0.0067, 7x this). A repeat that went
# through a strong codec afterwards can land above it (H.264 at QP 48: 0.002-0.01);
# diff_min_ratio and diff_cv still see those
REPEAT_EPS = 1.0 / 1024
_EPS = 1e-6

_LUMA = (0.299, 0.587, 0.114)


def _work_luma(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) RGB in [0, 1] -> (T, h, w) float64 luma, longer side at most WORK_SIDE."""
    w = torch.tensor(_LUMA, dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
    y = (frames * w).sum(dim=1, keepdim=True)
    h, wd = y.shape[-2:]
    scale = WORK_SIDE / max(h, wd)
    if scale < 1:
        size = (max(1, round(h * scale)), max(1, round(wd * scale)))
        y = F.interpolate(y, size=size, mode="area")
    return y[:, 0].double().cpu()


def _parabolic(left: torch.Tensor, mid: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Sub-sample offset of a peak from its value and its two neighbours (in [-0.5, 0.5])."""
    den = left - 2 * mid + right
    off = torch.where(den.abs() > 1e-12, 0.5 * (left - right) / den, torch.zeros_like(den))
    return off.clamp(-0.5, 0.5)


def global_shifts(y: torch.Tensor) -> torch.Tensor:
    """Translation between consecutive frames by phase correlation, (T-1, 2) as (dy/h, dx/w).

    ``y`` is (T, h, w) luma. Each frame is mean-removed and Hann-windowed (so the
    frame border does not look like an edge), the normalised cross-power
    spectrum of each consecutive pair is inverted, and its peak, refined to a
    fraction of a pixel by a parabola through the peak and its neighbours, is
    the shift. Identical frames give exactly (0, 0).
    """
    t, h, w = y.shape
    win = torch.hann_window(h, periodic=False, dtype=y.dtype)[:, None] * torch.hann_window(
        w, periodic=False, dtype=y.dtype
    )[None, :]
    spec = torch.fft.rfft2((y - y.mean(dim=(1, 2), keepdim=True)) * win)
    cross = spec[1:] * spec[:-1].conj()
    cross = cross / (cross.abs() + 1e-12 * cross.abs().amax(dim=(1, 2), keepdim=True) + 1e-30)
    corr = torch.fft.irfft2(cross, s=(h, w))  # (T-1, h, w), peak at the shift (circular)
    flat = corr.reshape(t - 1, -1).argmax(dim=1)
    py, px = flat // w, flat % w
    rows = torch.arange(t - 1)
    off_y = _parabolic(corr[rows, (py - 1) % h, px], corr[rows, py, px], corr[rows, (py + 1) % h, px])
    off_x = _parabolic(corr[rows, py, (px - 1) % w], corr[rows, py, px], corr[rows, py, (px + 1) % w])
    # circular positions past the middle are negative shifts
    dy = torch.where(py > h // 2, py - h, py).double() + off_y
    dx = torch.where(px > w // 2, px - w, px).double() + off_x
    shifts = torch.stack([dy / h, dx / w], dim=1)
    # a repeated frame is exactly still (the FFT round trip leaves ~1e-20 otherwise)
    same = (y[1:] == y[:-1]).flatten(1).all(dim=1)
    return shifts.masked_fill(same[:, None], 0.0)


def _std(x: torch.Tensor) -> torch.Tensor:
    return x.std(correction=0) if x.numel() > 1 else torch.zeros((), dtype=x.dtype)


def motion_features(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) RGB in [0, 1] -> float32 (MOTION_DIM,), named by ``MOTION_FEATURES``.

    See the module docstring for each feature and why it is there. A one-frame
    clip gives zeros.
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (T, 3, H, W), got {tuple(frames.shape)}")
    out = torch.zeros(MOTION_DIM, dtype=torch.float64)
    if frames.shape[0] < 2:
        return out.float()
    y = _work_luma(frames.float())
    d = (y[1:] - y[:-1]).abs().mean(dim=(1, 2))  # (T-1,)
    m = y.mean(dim=(1, 2))  # (T,)
    gy = (y[:, 1:, :] - y[:, :-1, :]).abs().mean()
    gx = (y[:, :, 1:] - y[:, :, :-1]).abs().mean()
    grad = 0.5 * (gx + gy)
    s = global_shifts(y)  # (T-1, 2)
    speed = s.norm(dim=1)

    f = dict.fromkeys(MOTION_FEATURES, torch.zeros((), dtype=torch.float64))
    f["diff_mean"] = d.mean()
    f["diff_std"] = _std(d)
    f["diff_max"] = d.max()
    f["diff_min_ratio"] = d.min() / (f["diff_mean"] + _EPS)
    f["repeat_fraction"] = (d < REPEAT_EPS).double().mean()
    f["diff_cv"] = f["diff_std"] / (f["diff_mean"] + _EPS)
    f["apparent_motion"] = f["diff_mean"] / (grad + _EPS) / max(y.shape[-2:])
    f["shift_mean"] = speed.mean()
    f["shift_std"] = _std(speed)
    f["luma_change"] = (m[1:] - m[:-1]).abs().mean()
    if len(d) >= 2:
        f["shift_accel"] = (s[1:] - s[:-1]).norm(dim=1).mean()
        f["luma_alternation"] = (m[2:] - 2 * m[1:-1] + m[:-2]).abs().mean()
    return torch.stack([f[k] for k in MOTION_FEATURES]).float()


def temporal_feature_change(per_frame_features: torch.Tensor) -> torch.Tensor:
    """(T, D) per-frame backbone features -> (D,): ``mean_t |f_t - f_{t-1}|`` per feature.

    The backbone's own view of temporal change, at the cost of a subtraction
    (the per-frame features are computed for the clip's embedding anyway).
    Averaging features over frames hides whether they are steady: a stutter
    makes some steps exactly 0 and jitter moves the high-frequency statistics
    of every frame, while the time average barely moves. Per feature rather
    than one number, so the calibration head can tell which kind of feature
    (early texture, late semantics) is unsteady. A one-frame clip gives zeros.
    """
    if per_frame_features.ndim != 2:
        raise ValueError(f"per-frame features must be (T, D), got {tuple(per_frame_features.shape)}")
    f = per_frame_features.float()
    if f.shape[0] < 2:
        return torch.zeros(f.shape[1], dtype=torch.float32, device=f.device)
    return (f[1:] - f[:-1]).abs().mean(dim=0)
