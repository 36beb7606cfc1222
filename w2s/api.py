"""The Python API: one call shape for every student and teacher.

``w2s.load(name_or_path)`` returns a :class:`Scorer` for a saved student
folder or any teacher name (``pyiqa:piqe``, ``classic:brisque``, ``fr:psnr``,
``vlm:...``, ``table:...``, ``student:...``); calling it scores a video or
image path, a list of paths, uint8 frames ``(T, H, W, 3)`` or a float tensor
``(T, 3, H, W)`` in [0, 1]. Scores are raw, higher is better.

>>> import numpy as np
>>> import w2s
>>> entropy = w2s.load("pyiqa:entropy")
>>> flat = np.full((2, 64, 64, 3), 128, dtype=np.uint8)
>>> noisy = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
>>> bool(entropy(noisy) > entropy(flat))  # more grey levels in use: higher entropy
True
>>> entropy.meta["kind"]
'teacher'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from w2s.core.clip import Clip
from w2s.core.errors import InputError, W2SError

log = logging.getLogger(__name__)

DEFAULT_SAMPLER = {"name": "uniform", "num_frames": 8}  # how files are read when nothing else says (teacher, old student)
DEFAULT_FPS = 25.0  # the frame rate given to frames passed as an array, unless told


def saved_reading(meta: dict) -> tuple[dict, int | None]:
    """How a saved student reads a file (its ``meta``): the frame sampler and ``max_side`` it was
    trained with, or :data:`DEFAULT_SAMPLER` at full size where it saved none."""
    return meta.get("sampler") or DEFAULT_SAMPLER, meta.get("max_side")


def scale_100(raw: np.ndarray, quantiles: list[float] | None) -> np.ndarray:
    """Raw student scores on 0-100: the share of the training items scored below.

    Piecewise-linear between the stored percentiles of the student's own
    training items (clean and distorted), clipped to [0, 100]. Monotonic, so it
    ranks exactly as the raw score does.

    >>> scale_100(np.array([-1.0, 0.5, 2.0]), [0.0, 1.0]).tolist()
    [0.0, 50.0, 100.0]
    """
    if not quantiles:
        return np.full(len(raw), np.nan)
    q = np.asarray(quantiles, dtype=np.float64)
    return np.interp(raw, q, np.linspace(0, 100, len(q)))


def check_device(device: str | None) -> str:
    """``device`` as torch names it; a GPU asked for on a machine without one is an error, not a fallback."""
    if device is None:
        return "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise W2SError(f"device {device!r} is not a device torch knows (try 'cpu' or 'cuda'): {e}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise W2SError(f"device {device!r} asked for, but torch sees no CUDA GPU on this machine; use device='cpu'")
    return str(parsed)


class Scorer:
    """A student or teacher, ready to score; build it with :func:`load`.

    ``meta`` says what it is: ``kind`` (student or teacher), ``name``, the
    frame ``sampler`` and ``max_side`` it reads files with and, for a student,
    its backbone, prior teachers, round and run.

    >>> import torch, w2s
    >>> scorer = w2s.load("pyiqa:entropy")
    >>> as_uint8 = torch.randint(0, 256, (2, 48, 48, 3), dtype=torch.uint8).numpy()  # (T, H, W, 3)
    >>> frames = torch.from_numpy(as_uint8).permute(0, 3, 1, 2) / 255.0  # (T, 3, H, W), float in [0, 1]
    >>> abs(scorer(frames) - scorer(as_uint8)) < 1e-6
    True
    >>> scorer(as_uint8.astype("float32"))
    Traceback (most recent call last):
    ...
    w2s.core.errors.InputError: frames as a numpy array must be uint8 (T, H, W, 3) or (H, W, 3), got float32 (2, 48, 48, 3); for float frames pass a torch tensor (T, 3, H, W) in [0, 1]
    """

    def __init__(self, name: str, model, sampler: dict, max_side: int | None, quantiles, meta: dict):
        from w2s.media.samplers import make_sampler

        self.name = name
        self.model = model  # anything with .score(Clip) -> float: a teacher, or a student as a teacher
        self.sampler = make_sampler(sampler)
        self.max_side = max_side
        self.quantiles = quantiles
        self.meta = meta

    def __repr__(self) -> str:
        return f"Scorer({self.name!r}, kind={self.meta['kind']!r})"

    # ------------------------------------------------------------------ scoring

    def __call__(self, x, fps: float | None = None, progress: bool = False):
        """Raw score of ``x``: a float for one video, image or frame array; an array for a list of paths.

        A list of paths raises on the first file that cannot be scored
        (:meth:`score_files` keeps going and reports each failure instead).
        """
        if isinstance(x, (str, Path)):
            return self._score_clip(self._read(x))
        if isinstance(x, (list, tuple)):
            return np.array([self._score_clip(self._read(p)) for p in self._paths(x, progress)], dtype=np.float64)
        return self._score_clip(self._clip_of_frames(x, fps))

    def score_100(self, x, fps: float | None = None, progress: bool = False):
        """The 0-100 scale of a student (the share of its training items scored below ``x``).

        >>> import w2s
        >>> w2s.load("pyiqa:entropy").score_100("clip.mp4")
        Traceback (most recent call last):
        ...
        w2s.core.errors.W2SError: pyiqa:entropy has no 0-100 scale (only a saved student has one: the share of its training items it scores below); use its raw score
        """
        if not self.quantiles:
            raise W2SError(f"{self.name} has no 0-100 scale (only a saved student has one: the share of its "
                           "training items it scores below); use its raw score")
        raw = self(x, fps=fps, progress=progress)
        out = scale_100(np.atleast_1d(np.asarray(raw, dtype=np.float64)), self.quantiles)
        return out if np.ndim(raw) else float(out[0])

    def score_files(self, paths: Iterable[str | Path], progress: bool = True) -> pd.DataFrame:
        """One row per file: path, score, score_100, status, error. A file that cannot be read or scored
        gets ``status=failed`` and the reason, and the others go on (what ``w2s score`` writes).

        >>> import w2s
        >>> w2s.load("pyiqa:entropy").score_files(["missing.mp4"], progress=False)[["path", "status", "error"]]
                  path  status                       error
        0  missing.mp4  failed  missing.mp4: no such file
        """
        rows = []
        for path in self._paths(list(paths), progress):
            try:
                rows.append({"path": str(path), "score": self._score_clip(self._read(path)), "status": "ok", "error": ""})
            except Exception as e:
                log.warning("cannot score %s: %s", path, e, exc_info=log.isEnabledFor(logging.DEBUG))  # -v: where
                rows.append({"path": str(path), "score": np.nan, "status": "failed", "error": str(e)})
        df = pd.DataFrame(rows, columns=["path", "score", "status", "error"])
        df.insert(2, "score_100", scale_100(df.score.to_numpy(), self.quantiles))
        return df

    # ------------------------------------------------------------------ inputs

    def _paths(self, paths: list, progress: bool):
        bad = [p for p in paths if not isinstance(p, (str, Path))]
        if bad:
            raise InputError(f"a list to score must hold paths (str or Path); item {bad[0]!r} is a {type(bad[0]).__name__}")
        return tqdm(paths, desc=f"score {self.name}", unit="file", disable=not progress)

    def _read(self, path) -> Clip:
        from w2s.media.decode import read_clip

        path = Path(path)
        if not path.exists() and not path.is_symlink():  # a broken link: read_clip says so
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path} is a folder; pass its files (a list of paths), or use `w2s score {path}`")
        return read_clip(path, self.sampler, max_side=self.max_side or None)

    def _clip_of_frames(self, x, fps: float | None) -> Clip:
        """Frames passed in memory, as a clip: shrunk to the scorer's ``max_side`` as a file would be."""
        from w2s.media.frames import fit_size, resize

        if isinstance(x, np.ndarray):
            if x.dtype != np.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
                raise InputError(f"frames as a numpy array must be uint8 (T, H, W, 3) or (H, W, 3), got {x.dtype} "
                                 f"{tuple(x.shape)}; for float frames pass a torch tensor (T, 3, H, W) in [0, 1]")
            frames = torch.from_numpy(np.ascontiguousarray(x.reshape(-1, *x.shape[-3:]).transpose(0, 3, 1, 2))).float() / 255.0
        elif isinstance(x, torch.Tensor):
            if not x.is_floating_point() or x.ndim not in (3, 4) or x.shape[-3] != 3:
                raise InputError(f"frames as a torch tensor must be float (T, 3, H, W) or (3, H, W) in [0, 1], got "
                                 f"{x.dtype} {tuple(x.shape)}; for uint8 frames pass a numpy array (T, H, W, 3)")
            frames = x.detach().reshape(-1, *x.shape[-3:]).float().cpu()
            if frames.numel() and (frames.min() < 0 or frames.max() > 1):
                raise InputError(f"frames as a torch tensor must lie in [0, 1], got values from {float(frames.min()):.3g} "
                                 f"to {float(frames.max()):.3g}; divide uint8 frames by 255")
        else:
            raise InputError(f"cannot score a {type(x).__name__}: pass a path, a list of paths, uint8 frames "
                             "(T, H, W, 3) as a numpy array or float frames (T, 3, H, W) as a torch tensor")
        if min(frames.shape[-2:]) < 2:
            raise InputError(f"frames of {tuple(frames.shape[-2:])} pixels are too small to score")
        size = fit_size(*frames.shape[-2:], self.max_side or None)
        if size != tuple(frames.shape[-2:]):
            frames = resize(frames, size)
        return Clip("frames", frames.contiguous(), fps=float(fps or DEFAULT_FPS))

    def _score_clip(self, clip: Clip) -> float:
        if self.meta.get("full_reference"):
            raise W2SError(f"{self.name} is a full-reference metric: it compares a distorted variant with its clean "
                           "clip, which a run's label stage hands it; it cannot score a video on its own")
        return float(self.model.score(clip))


def load(name_or_path: str | Path, device: str | None = None, sampler: dict | None = None,
         max_side: int | None = None) -> Scorer:
    """A scorer for a saved student folder or a teacher name, on ``device`` (default CPU).

    Files are read with the student's own frame sampling (``sampler``,
    ``max_side`` saved with it), or 8 uniform frames at full size for a
    teacher; ``sampler`` (e.g. ``{"name": "uniform", "num_frames": 16}``) and
    ``max_side`` override that.

    >>> import w2s
    >>> w2s.load("pyiqa:no_such_metric")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    w2s.core.errors.W2SError: unknown pyiqa no-reference metric 'no_such_metric': known: ...
    >>> w2s.load("runs/none/round_00/student")
    Traceback (most recent call last):
    ...
    w2s.core.errors.W2SError: 'runs/none/round_00/student' is neither a student folder (no such folder) nor a teacher name like pyiqa:piqe (`w2s list teachers` lists them)
    """
    from teachers import make_teacher, teacher_class

    device = check_device(device)
    spec = str(name_or_path)
    path = Path(spec.removeprefix("student:"))
    if path.is_dir() or spec.startswith("student:"):
        from teachers.student_teacher import StudentTeacher

        model = StudentTeacher(str(path), name=spec)
        student = model.student
        student.place(device)
        info = student.meta
        saved_sampler, saved_side = saved_reading(info)
        meta = {"kind": "student", "name": spec, "path": str(path), "backbone": student.backbone_name,
                "backbone_options": student.backbone_options, "extras": student.extras,
                "prior": student.prior.teachers if student.prior else [], "round": info.get("round"),
                "run": info.get("run"), "sampler": sampler or saved_sampler,
                "max_side": max_side if max_side is not None else saved_side,
                "trainable_share": info.get("trainable_share")}
        return Scorer(spec, model, meta["sampler"], meta["max_side"], info.get("train_score_quantiles"), meta)
    if ":" not in spec:
        raise W2SError(f"{spec!r} is neither a student folder (no such folder) nor a teacher name like pyiqa:piqe "
                       "(`w2s list teachers` lists them)")
    model = make_teacher(spec, device=device)
    meta = {"kind": "teacher", "name": spec, "sampler": sampler or DEFAULT_SAMPLER, "max_side": max_side,
            "full_reference": bool(teacher_class(spec).full_reference)}
    return Scorer(spec, model, meta["sampler"], max_side, None, meta)
