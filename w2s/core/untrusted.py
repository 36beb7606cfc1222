"""Files a user hands over are data, never code: no checkpoint is unpickled.

A ``.pth``/``.bin``/``.pt`` checkpoint is a pickle, and unpickling runs
whatever the file says (``__reduce__``). Our own files are safetensors, JSON,
parquet and CSV; the weights that others' code loads while a model is built
(pyiqa's ``load_pretrained_network`` passes ``weights_only=False``; timm and
transformers pass ``weights_only=True``) go through :func:`no_unpickling`,
which makes every ``torch.load`` in the process a weights-only load (tensors,
plain containers and numbers; any other global is refused) for the duration
of the block, through torch's own ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` switch,
which overrides an explicit ``weights_only=False``. Teachers and backbones are
built inside it (:func:`teachers.make_teacher`, :func:`students.make_backbone`).

A checkpoint that holds more than weights is refused with
:class:`UnsafeCheckpointError`, naming the file and the fix (keep only its
tensors, where it is trusted); :func:`explain` finds that cause in the
error a loader raised. ``trust_remote_code`` (a model folder's own Python)
stays off unless the user sets it in the teacher's or backbone's options.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading

from w2s.core.errors import W2SError

FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_LOCK = threading.RLock()
_depth = 0
_saved: str | None = None


class UnsafeCheckpointError(W2SError):
    """A weights file that would run code when loaded (a pickle holding more than tensors)."""


@contextlib.contextmanager
def no_unpickling():
    """Within the block, every ``torch.load`` is weights-only, whatever its caller asked for.

    Re-entrant; the environment variable is restored when the outermost block
    ends. It is process-wide: a thread loading a trusted pickle at the same time
    would be refused too, which errs on the safe side.
    """
    global _depth, _saved
    with _LOCK:
        if _depth == 0:
            _saved = os.environ.get(FORCE)
            os.environ[FORCE] = "1"
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                if _saved is None:
                    os.environ.pop(FORCE, None)
                else:
                    os.environ[FORCE] = _saved


def _is_refused_pickle(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text or (
            "weights_only" in text and "blocked" in text
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def explain(exc: BaseException, path, what: str) -> UnsafeCheckpointError | None:
    """An :class:`UnsafeCheckpointError` for ``path`` if ``exc`` (or its cause) is a refused unpickling."""
    if not _is_refused_pickle(exc):
        return None
    return UnsafeCheckpointError(
        f"{what} {path} is a pickle that holds more than weights (loading it would run the code it names), "
        "so it was not loaded; w2s never unpickles a file it is handed. Where you trust it, keep only its "
        "tensors: load it with torch.load(path, weights_only=False) and save the tensors with torch.save "
        "(same name) or safetensors.torch.save_file (.safetensors, where the loader takes one)"
    )
