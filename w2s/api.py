"""The Python API: one call shape for every student and teacher.

``w2s.load(name_or_path)`` returns a :class:`Scorer` for a saved student
folder or any teacher name (``pyiqa:piqe``, ``classic:brisque``, ``fr:psnr``,
``vlm:...``, ``table:...``, ``student:...``); calling it scores a video or
image path, or frames in memory: a numpy array or torch tensor, uint8 (0..255)
or float (0..1), ``(T, H, W, 3)`` or ``(T, 3, H, W)``, or one image ``(H, W, 3)``
/ ``(3, H, W)`` (:mod:`w2s.media.frames_input`); a list of these gives one score
each. Scores are raw, higher is better.

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

from w2s.core.clip import Clip
from w2s.core.device import resolve_device
from w2s.core.errors import InputError, W2SError
from w2s.core.finite import finite_score
from w2s.core.progress import progress as with_progress
from w2s.core.scale import apply_scale, saved_scale
from w2s.media.frames_input import clip_of_frames, is_frames
from w2s.media.prefetch import read_ahead, unwrap

log = logging.getLogger(__name__)

DEFAULT_SAMPLER = {"name": "uniform", "num_frames": 8}  # how files are read when nothing else says (teacher, old student)
DEFAULT_FPS = 25.0  # the frame rate given to frames passed as an array, unless told


def saved_reading(meta: dict) -> tuple[dict, int | None]:
    """How a saved student reads a file (its ``meta``): the frame sampler and ``max_side`` it was
    trained with, or :data:`DEFAULT_SAMPLER` at full size where it saved none."""
    return meta.get("sampler") or DEFAULT_SAMPLER, meta.get("max_side")


def scale_100(raw: np.ndarray, scale) -> np.ndarray:
    """Raw student scores on 0-100 by the student's saved ``scale`` (:mod:`w2s.core.scale`): 50 is
    the median clean clip of its training pool, the clean clips' middle half spans about 25..75,
    distorted variants fall below; increasing, so it ranks exactly as the raw score does. A student
    saved before this has a list of percentiles instead (the share of its training items scored
    below), read as it was saved; NaN without a scale.

    >>> scale_100(np.array([-1.0, 0.5, 2.0]), {"kind": "logistic", "center": 0.5, "slope": 1.0}).round(1).tolist()
    [18.2, 50.0, 81.8]
    >>> scale_100(np.array([-1.0, 0.5, 2.0]), [0.0, 1.0]).tolist()  # the older percentile form
    [0.0, 50.0, 100.0]
    """
    return apply_scale(raw, scale)


def check_device(device: str | None) -> str:
    """``device`` as torch names it (``auto``/None: the GPU when torch sees one, :mod:`w2s.core.device`);
    a device asked for on a machine without it is an error, not a fallback."""
    return str(resolve_device(device))


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
    w2s.core.errors.InputError: frames of shape (2, 48, 48, 3) and dtype float32: float pixels must lie in [0, 1], and these do not; for 0..255 values divide by 255 (or pass them as uint8)
    """

    decode_workers = 2  # threads decoding the next files of a list while one scores; 0: none, one file at a time

    def __init__(self, name: str, model, sampler: dict, max_side: int | None, quantiles, meta: dict):
        from w2s.media.samplers import make_sampler

        self.name = name
        self.model = model  # anything with .score(Clip) -> float: a teacher, or a student as a teacher
        self.sampler = make_sampler(sampler)
        self.max_side = max_side
        self.quantiles = quantiles  # the saved 0-100 scale (w2s.core.scale): a dict, or an older student's percentiles
        self.meta = meta

    def __repr__(self) -> str:
        return f"Scorer({self.name!r}, kind={self.meta['kind']!r})"

    # ------------------------------------------------------------------ scoring

    def __call__(self, x, fps: float | None = None, progress: bool = False):
        """Raw score of ``x``: a float for one video, image or frame array; an array for a list of them.

        A list raises on the first item that cannot be scored, naming its place
        (:meth:`score_files` keeps going past bad files and reports each instead).
        """
        if isinstance(x, (str, Path)):
            return self._score_clip(self._read(x), str(x))
        if isinstance(x, (list, tuple)):
            return self._batch(list(x), fps, progress)
        return self._score_clip(self._clip_of_frames(x, fps), "the frames")

    def score_100(self, x, fps: float | None = None, progress: bool = False):
        """The 0-100 scale of a student (:func:`scale_100`: 50 is the median clean clip of its training pool).

        >>> import w2s
        >>> w2s.load("pyiqa:entropy").score_100("clip.mp4")
        Traceback (most recent call last):
        ...
        w2s.core.errors.W2SError: pyiqa:entropy has no 0-100 scale (only a saved student has one: 50 is the median clean clip of its training pool); use its raw score
        """
        if not self.quantiles:
            raise W2SError(f"{self.name} has no 0-100 scale (only a saved student has one: 50 is the median clean "
                           "clip of its training pool); use its raw score")
        raw = self(x, fps=fps, progress=progress)
        out = scale_100(np.atleast_1d(np.asarray(raw, dtype=np.float64)), self.quantiles)
        return out if np.ndim(raw) else float(out[0])

    def score_files(self, paths: Iterable[str | Path], progress: bool = True, on_row=None) -> pd.DataFrame:
        """One row per file: path, score, score_100, status, error. A file that cannot be read or scored
        (a non-finite score included: :mod:`w2s.core.finite`) gets ``status=failed`` and the reason, and
        the others go on (what ``w2s score`` writes). ``on_row(row)`` is called with each row as it is
        done (``w2s score`` saves it at once, so a crash later loses no score).

        >>> import w2s
        >>> w2s.load("pyiqa:entropy").score_files(["missing.mp4"], progress=False)[["path", "status", "error"]]
                  path  status                       error
        0  missing.mp4  failed  missing.mp4: no such file
        """
        rows = []
        for path, clip in self._decoded(paths, progress):
            try:
                rows.append({"path": str(path), "score": self._score_clip(unwrap(clip), str(path)), "status": "ok",
                             "error": ""})
            except Exception as e:  # the caller shows each failed row once; -v logs where it came from
                log.debug("cannot score %s: %s", path, e, exc_info=True)
                rows.append({"path": str(path), "score": np.nan, "status": "failed", "error": str(e)})
            if on_row is not None:
                on_row(rows[-1])
        df = pd.DataFrame(rows, columns=["path", "score", "status", "error"])
        df.insert(2, "score_100", scale_100(df.score.to_numpy(), self.quantiles))
        return df

    # ------------------------------------------------------------------ inputs

    def _paths(self, paths: list, progress: bool):
        bad = next((i for i, p in enumerate(paths) if not isinstance(p, (str, Path))), None)
        if bad is not None:  # its place and type, never its repr: an array's would fill the screen
            raise InputError(f"a list of files to score must hold paths (str or Path); item {bad} is a "
                             f"{type(paths[bad]).__name__} (frames in memory: call the scorer on them)")
        return with_progress(paths, f"score {self.name}", "file", enabled=progress)

    def _batch(self, items: list, fps: float | None, progress: bool) -> np.ndarray:
        """One score per item, paths and frame arrays alike; the first item that fails raises, naming its place."""
        bad = next((i for i, x in enumerate(items) if not isinstance(x, (str, Path)) and not is_frames(x)), None)
        if bad is not None:
            raise InputError(f"a list to score holds paths or frame arrays (one score each); item {bad} is a "
                             f"{type(items[bad]).__name__}")

        def read(numbered: tuple[int, object]) -> Clip:
            i, x = numbered
            if not is_frames(x):
                return self._read(x)
            try:
                return self._clip_of_frames(x, fps)
            except InputError as e:
                raise InputError(f"item {i} of the list: {e}") from None

        bar = with_progress(list(enumerate(items)), f"score {self.name}", "input", enabled=progress)
        clips = read_ahead(bar, read, workers=self.decode_workers)
        return np.array([self._score_clip(unwrap(clip), _item(i, x)) for (i, x), clip in clips], dtype=np.float64)

    def _decoded(self, paths, progress: bool):
        """``(path, clip or the exception that reading it raised)`` in order, the next files decoded
        in threads while this one scores (:mod:`w2s.media.prefetch`): a GPU does not wait on the CPU."""
        return read_ahead(self._paths(list(paths), progress), self._read, workers=self.decode_workers)

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
        return clip_of_frames(x, fps=float(fps or DEFAULT_FPS), max_side=self.max_side or None)

    def _score_clip(self, clip: Clip, what: str) -> float:
        """The model's score of ``clip`` (``what``: the input, as an error names it); a non-finite one raises."""
        if self.meta.get("full_reference"):
            raise W2SError(f"{self.name} is a full-reference metric: it compares a distorted variant with its clean "
                           "clip, which a run's label stage hands it; it cannot score a video on its own")
        return finite_score(self.model.score(clip), what, self.name)


def _item(i: int, x) -> str:
    """Item ``i`` of a list passed to a scorer, as an error names it (a path is named, frames by their place)."""
    return f"item {i} of the list ({x})" if isinstance(x, (str, Path)) else f"item {i} of the list"


def prior_student(path: str | Path) -> str:
    """The prior student a standalone student was distilled from (``student.standalone``: it is saved
    beside it, ``round_XX/student_prior``); a student that has its prior already is itself.

    >>> prior_student("runs/none/round_00/student")
    Traceback (most recent call last):
    ...
    w2s.core.errors.W2SError: runs/none/round_00/student is no saved student (no config.json in it): the prior student is asked of a student folder, e.g. runs/NAME/round_02/student
    """
    import json

    spec = str(path)
    folder = Path(spec.removeprefix("student:"))
    config = folder / "config.json"
    if not config.is_file():
        raise W2SError(f"{folder} is no saved student (no config.json in it): the prior student is asked of a "
                       "student folder, e.g. runs/NAME/round_02/student")
    saved = json.loads(config.read_text())
    if saved.get("prior"):
        return spec  # it scores with its teachers' prior already
    source = (saved.get("meta") or {}).get("standalone")
    if not source:
        raise W2SError(f"{folder} was trained without a teachers' prior (student.prior: none), so it has no prior "
                       "student; score with it as it is")
    prior = folder.parent / source["distilled_from"]
    if not (prior / "config.json").is_file():
        raise W2SError(f"{folder} is a standalone student distilled from {prior}, which is not there (copy the round's "
                       "student_prior folder beside it)")
    return str(prior)


def load(name_or_path: str | Path, device: str | None = "auto", sampler: dict | None = None,
         max_side: int | None = None, prior: bool = False) -> Scorer:
    """A scorer for a saved student folder or a teacher name, on ``device`` (``auto``: the GPU when
    torch sees one, else the CPU; or ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Files are read with the student's own frame sampling (``sampler``,
    ``max_side`` saved with it), or 8 uniform frames at full size for a
    teacher; ``sampler`` (e.g. ``{"name": "uniform", "num_frames": 16}``) and
    ``max_side`` override that. ``prior=True``: for a run's standalone student (``student.standalone``),
    the prior student saved beside it (:func:`prior_student`), which runs its teachers on every file.

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
    spec = prior_student(name_or_path) if prior else str(name_or_path)
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
                "trainable_share": info.get("trainable_share"), "standalone": bool(info.get("standalone"))}
        return Scorer(spec, model, meta["sampler"], meta["max_side"], saved_scale(info), meta)
    if ":" not in spec:
        raise W2SError(f"{spec!r} is neither a student folder (no such folder) nor a teacher name like pyiqa:piqe "
                       "(`w2s list teachers` lists them)")
    model = make_teacher(spec, device=device)
    meta = {"kind": "teacher", "name": spec, "sampler": sampler or DEFAULT_SAMPLER, "max_side": max_side,
            "full_reference": bool(teacher_class(spec).full_reference)}
    return Scorer(spec, model, meta["sampler"], max_side, None, meta)
