"""Any pyiqa no-reference image metric as a video teacher.

Frames are scored as one 4-D batch (pyiqa takes images only: time is folded
into the batch) and pooled over time. The sign comes from pyiqa's own
``lower_better`` flag, so every score leaves here higher-is-better.

Before building a metric, the files and packages it needs are looked up on
disk (``teachers.pyiqa_requirements``): a missing one raises ``MissingWeightsError``
at once, naming the file and the folder searched, instead of pyiqa trying the
network. Set ``W2S_PYIQA_DOWNLOAD=1`` to let pyiqa download what is missing
(where there is network).
"""

from __future__ import annotations

import copy
import logging
import os
import threading

import torch

from teachers.base import POOLING, TeacherBase, check_frame_options
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError
from w2s.core.registry import suggest

log = logging.getLogger(__name__)

def _entropy_fast(frames: torch.Tensor) -> torch.Tensor:
    """pyiqa's ``entropy`` (Y channel, 256-bin histogram, log2) via bincount.

    pyiqa builds the histogram from a one-hot tensor of every pixel, which
    costs about 0.16 s for a 320x180 frame on two cores; counting with
    ``bincount`` gives the same numbers (checked in the tests) about 40x faster.
    """
    from pyiqa.utils.color_util import to_y_channel

    y = to_y_channel(frames, 255.0, "yiq").long().clamp(0, 255)
    out = []
    for plane in y.flatten(1):
        hist = torch.bincount(plane, minlength=256).double()
        hist = hist / hist.sum()
        out.append(-(hist * torch.log2(hist + 1e-8)).sum())
    return torch.stack(out).float()


# metrics with a faster implementation of the very same definition
_FAST = {"entropy": _entropy_fast}


def _nr_metrics() -> list[str]:
    from teachers.pyiqa_requirements import nr_metrics

    return nr_metrics()  # pyiqa's registry, read without importing pyiqa (and torch's import chain)


DOWNLOAD_ENV = "W2S_PYIQA_DOWNLOAD"


def _build_metric(metric: str, device: str):
    """``pyiqa.create_metric``, failing fast and precisely when a file is not here."""
    from teachers import pyiqa_requirements as req
    from teachers.download_guard import DownloadBlocked, DownloadGuard

    download = os.environ.get(DOWNLOAD_ENV) == "1"
    if not download:  # on disk only, before pyiqa is even imported
        avail = req.availability(metric)
        if avail.missing:
            raise MissingWeightsError(avail.message() + _HOW)
        if avail.notes:
            raise W2SError(avail.message())
    import pyiqa
    from pyiqa.utils import download_util

    # pyiqa fixed its cache folder when it was imported; follow TORCH_HOME as it is now
    download_util.DEFAULT_CACHE_DIR = str(req.torch_hub_dir() / "pyiqa")
    from w2s.core.untrusted import explain, no_unpickling

    guard = DownloadGuard(follow=False)
    try:
        # pyiqa unpickles its weight files (weights_only=False): weights-only here, a file from
        # elsewhere in the cache folder must not run code
        with no_unpickling():
            if download:
                return pyiqa.create_metric(metric, device=device, as_loss=False)
            with guard:  # a download attempt raises at once, no network retries
                return pyiqa.create_metric(metric, device=device, as_loss=False)
    except DownloadBlocked as e:  # a file the static table did not know about
        need = e.need
    except OSError:  # transformers re-raises what a hub look-up raised as its own OSError
        if not guard.requests:
            raise
        need = guard.requests[-1]
    except Exception as e:
        if unsafe := explain(e, req.torch_hub_dir() / "pyiqa", f"a weights file of pyiqa:{metric} in"):
            raise unsafe from None
        raise
    raise MissingWeightsError(f"pyiqa:{metric} cannot run here:\n  - {need.explain()}{_HOW}")


_HOW = (f"\n(pyiqa's weight files: https://huggingface.co/chaofengc/IQA-PyTorch-Weights; `w2s list teachers` shows "
        f"what every pyiqa metric lacks; with network, {DOWNLOAD_ENV}=1 lets pyiqa download them)")


# a metric of at most this many parameter and buffer elements (4 MB in float32) is copied per thread
SMALL_METRIC = 1_000_000


class PyiqaTeacher(TeacherBase):
    """``pyiqa:NAME`` — any pyiqa no-reference metric, oriented higher-is-better, pooled over frames."""

    takes_device = True

    def __init__(self, metric: str, pooling: str = "mean", device: str = "cpu", frame_batch: int = 16, fast: bool = True):
        self.check(metric)
        check_frame_options(f"pyiqa:{metric}", pooling, frame_batch)
        self.metric_name = metric
        self.name = f"pyiqa:{metric}"
        self.pooling = pooling
        self.frame_batch = frame_batch
        self.device = device
        self._fast = _FAST.get(metric) if fast else None
        self.model = _build_metric(metric, device)
        self.lower_better = bool(getattr(self.model, "lower_better", False))
        # The label stage calls a teacher from two worker threads at once, and some pyiqa archs keep
        # per-call state on the module: piqe does `self.results = piqe(x); return self.results[0]`,
        # so a shared module could hand one thread the other's score (seen: one piqe score of the
        # quickstart moved between two runs). A small metric (weight-free ones: piqe, niqe's
        # statistics, ...) costs little to copy: each thread gets its own. One with weights is
        # held once, and its calls take turns.
        size = sum(t.numel() for t in [*self.model.parameters(), *self.model.buffers()])
        self._copy_per_thread = size <= SMALL_METRIC
        self._local = threading.local()
        self._lock = threading.Lock()
        self._original_taken = False  # by the first thread to call it; the others get copies

    @staticmethod
    def check(metric: str) -> None:
        names = _nr_metrics()
        if metric not in names:
            raise W2SError(f"unknown pyiqa no-reference metric {metric!r}: {suggest(metric, names)}")

    @torch.inference_mode()
    def frame_scores(self, frames: torch.Tensor) -> torch.Tensor:
        """Raw pyiqa scores, one per frame, in pyiqa's own orientation."""
        out = []
        for chunk in frames.split(self.frame_batch):
            chunk = chunk.to(self.device)
            s = self._fast(chunk) if self._fast else self._forward(chunk)
            out.append(s.reshape(-1).float().cpu())
        return torch.cat(out)

    def _forward(self, chunk: torch.Tensor) -> torch.Tensor:
        if not self._copy_per_thread:
            with self._lock:
                return self.model(chunk)
        model = getattr(self._local, "model", None)
        if model is None:  # this thread's own
            with self._lock:
                model = copy.deepcopy(self.model) if self._original_taken else self.model
                self._original_taken = True
            self._local.model = model
        return model(chunk)

    def score(self, clip: Clip) -> float:
        frames = self.frame_scores(clip.frames)
        # oriented before pooling, so that `min` is the worst frame whatever pyiqa's orientation
        return float(POOLING[self.pooling](-frames if self.lower_better else frames))
