"""Build a pyiqa metric with every download refused, and every refusal named.

pyiqa, torchvision, timm, transformers and the CLIP loaders all fetch what is
not on disk, and offline that means network retries before a vague error. The
:class:`DownloadGuard` context manager replaces their download entry points for
the duration of a ``with`` block, so the first attempt raises
:class:`DownloadBlocked` naming the file, the folder it was looked for in and
the URL, and restores every attribute it replaced when the block ends, however
it ends.

What is replaced (only while the block runs):

* ``torch.hub.download_url_to_file``, and the same function in every loaded
  module that imported it by name (pyiqa, facexlib);
* ``huggingface_hub.hf_hub_download`` (in ``huggingface_hub`` and
  ``huggingface_hub.file_download``, and in loaded modules that imported it or
  bound it with ``functools.partial``, as timm does);
* ``urllib.request.urlopen`` (the CLIP loaders download with urllib);
* ``socket.socket.connect`` (anything else that reaches for the network);
* with ``follow=True`` only: ``torch.load``, ``torch.jit.load``,
  ``scipy.io.loadmat``, ``safetensors.torch.load_file`` and
  ``torch.nn.Module.load_state_dict``, so a refused file stands in as an empty
  checkpoint and construction goes on to ask for the next one.

The replacements are process-wide (module attributes), so one guard at a time
holds them: a second thread entering waits for the first to leave, or their
restores would interleave and leave a stand-in behind. Nesting in one thread
is fine: the inner guard restores the outer one's stand-ins.

:func:`try_build` builds a metric under a guard and reports what it asked for;
the tests use it to check the static table in ``teachers.pyiqa_requirements``.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from teachers.pyiqa_requirements import FOLDERS, Need, hf_hub_cache, torch_hub_dir
from w2s.core.errors import MissingWeightsError

# names that modules import by name and that a module first imported inside a
# block may have bound to a stand-in; swept on exit
_BY_NAME = ("download_url_to_file", "hf_hub_download", "urlopen")

# one guard holds the process-wide patches at a time (re-entrant for nesting)
_LOCK = threading.RLock()


class DownloadBlocked(MissingWeightsError):
    """Raised in place of a download: something asked for a file that is not here."""

    def __init__(self, need: Need):
        super().__init__(need.explain())
        self.need = need


def _need_for_path(dst: str, url: str) -> Need:
    """Name a download target by the folder kind it falls in."""
    dst = os.path.abspath(dst)
    folder = os.path.dirname(dst)
    for key, (_, _, where) in FOLDERS.items():
        if key != "hf" and os.path.abspath(where()) == folder:
            return Need("file", os.path.basename(dst), key, url=url)
    return Need("file", os.path.basename(dst), "", url=url, dirpath=folder)


class _Blank(dict):
    """Stands in for a loaded checkpoint in follow mode: every key is another blank."""

    def __missing__(self, key):
        return _Blank()


_ABSENT = object()  # the attribute was inherited or lazy, not in the object's own __dict__


class DownloadGuard:
    """Context manager: refuse every weight download and all network while the block runs.

    ``follow=False``: the first download attempt raises :class:`DownloadBlocked`
    at once (what ``PyiqaTeacher`` uses, so construction fails fast, never after
    retries). ``follow=True`` (for :func:`try_build` only): a refused file is
    recorded and then stands in as an empty checkpoint, so construction goes
    on and the files after it are recorded too; state dicts are not loaded in
    this mode.

    Every attempt is appended to :attr:`requests` (or to ``record`` when one is
    given), in order, whether it raised or not. :attr:`patched` lists
    ``(object, attribute, original)`` for everything replaced while inside.
    """

    def __init__(self, follow: bool = False, record: list | None = None):
        self.follow = follow
        self.requests: list[Need] = [] if record is None else record
        # (object, attribute, its own __dict__ entry or _ABSENT, the value getattr saw)
        self._patches: list[tuple[object, str, object, object]] = []
        self._standins: dict[int, tuple[object, object]] = {}  # id(stand-in) -> (stand-in, original); keeps both alive
        self._fakes: set[str] = set()
        self._active = False

    @property
    def patched(self) -> list[tuple[object, str, object]]:
        return [(obj, attr, original) for obj, attr, _, original in self._patches]

    # ------------------------------------------------------------ patching

    def _patch(self, obj, attr: str, new) -> None:
        original = getattr(obj, attr)  # may run a lazy module's __getattr__, which can fill __dict__
        in_dict = vars(obj).get(attr, _ABSENT)
        setattr(obj, attr, new)  # first: an object that refuses it has nothing to restore
        self._patches.append((obj, attr, in_dict, original))
        self._standins.setdefault(id(new), (new, original))

    def _patch_by_name(self, attr: str, original, standin) -> None:
        """Replace ``original`` in every loaded module that holds it under ``attr`` (plain or as a partial)."""
        for mod in list(sys.modules.values()):
            # the module's own dict only: getattr could run a lazy module's __getattr__ and import things
            own = getattr(mod, "__dict__", None) if mod is not None else None
            value = own.get(attr) if isinstance(own, dict) else None
            if value is None:
                continue
            if value is original:
                self._patch(mod, attr, standin)
            elif isinstance(value, functools.partial) and value.func is original:  # timm binds library_name
                self._patch(mod, attr, functools.partial(standin, *value.args, **value.keywords))

    def _restore(self) -> None:
        failed: BaseException | None = None
        # last patched first, so an attribute patched twice ends at its first original
        for obj, attr, in_dict, _ in reversed(self._patches):
            try:
                if in_dict is not _ABSENT:
                    setattr(obj, attr, in_dict)
                elif attr in vars(obj):  # it was inherited or lazy: drop ours and let lookup find it again
                    delattr(obj, attr)
            except BaseException as e:  # noqa: BLE001 - restore the others first, then raise
                failed = failed or e
        self._patches.clear()
        # a module first imported inside the block took a stand-in by name: give it the original
        originals = {i: orig for i, (_, orig) in self._standins.items()}
        for mod in list(sys.modules.values()):
            own = getattr(mod, "__dict__", None) if mod is not None else None
            if not isinstance(own, dict):
                continue
            for attr in _BY_NAME:
                value = own.get(attr)
                if value is None:
                    continue
                try:
                    if id(value) in originals:
                        setattr(mod, attr, originals[id(value)])
                    elif isinstance(value, functools.partial) and id(value.func) in originals:
                        setattr(mod, attr, functools.partial(originals[id(value.func)], *value.args, **value.keywords))
                except BaseException as e:  # noqa: BLE001 - as above
                    failed = failed or e
        self._standins.clear()
        self._fakes.clear()
        if failed is not None:
            raise failed

    def __enter__(self) -> DownloadGuard:  # noqa: PYI034 - typing.Self needs Python 3.11; not subclassed
        if self._active:
            raise RuntimeError("this DownloadGuard is already in use; nest a new one instead")
        _LOCK.acquire()
        self._active = True
        try:
            self._install()
        except BaseException:  # a failed patch must not leave the ones before it in place
            try:
                self._restore()
            finally:
                self._active = False
                _LOCK.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        try:
            self._restore()
        finally:
            self._active = False
            _LOCK.release()
        return False  # whatever the block raised goes on

    def _install(self) -> None:
        import socket
        import urllib.request

        import torch.hub

        self._patch_downloads(torch.hub)
        self._patch_hf()

        def urlopen(url, *a, **k):
            url = str(getattr(url, "full_url", url))
            need = Need("file", os.path.basename(urlparse(url).path), "", url=url)
            self.requests.append(need)
            raise DownloadBlocked(need)

        self._patch(urllib.request, "urlopen", urlopen)

        def connect(sock, *a, **k):
            where = f" to {a[0]!r}" if a else ""
            raise OSError(f"network access{where} refused while building a pyiqa metric (w2s)")

        self._patch(socket.socket, "connect", connect)
        if self.follow:
            self._patch_loaders()

    def _patch_downloads(self, hub) -> None:
        def download(url, dst, *a, **k):
            need = _need_for_path(dst, url)
            self.requests.append(need)
            if not self.follow:
                raise DownloadBlocked(need)
            self._fakes.add(os.path.abspath(dst))

        original = hub.download_url_to_file
        self._patch(hub, "download_url_to_file", download)
        self._patch_by_name("download_url_to_file", original, download)

    def _patch_hf(self) -> None:
        try:
            import huggingface_hub
            import huggingface_hub.file_download
        except ImportError:  # nothing can download through it then
            return

        def hf_download(*a, **k):
            repo = k.get("repo_id") or (a[0] if a else "")
            fname = k.get("filename") or (a[1] if len(a) > 1 else "")
            need = Need("hf-file", repo, "hf", hf_file=fname)
            self.requests.append(need)
            # only weight files can stand in as blanks; a config must be real for construction to go on
            if not self.follow or not fname.endswith((".safetensors", ".bin", ".pth")):
                raise DownloadBlocked(need)
            fake = str(hf_hub_cache() / "w2s-blank-stand-in" / fname)
            self._fakes.add(fake)
            return fake

        original = huggingface_hub.file_download.hf_hub_download
        # the package first: its lazy __getattr__ reads the submodule, which would then hold the stand-in already
        self._patch(huggingface_hub, "hf_hub_download", hf_download)  # what a later `from huggingface_hub import` gets
        self._patch(huggingface_hub.file_download, "hf_hub_download", hf_download)
        self._patch_by_name("hf_hub_download", original, hf_download)  # timm and transformers, when already imported

    def _patch_loaders(self) -> None:
        import scipy.io
        import torch

        fakes = self._fakes

        def fake_or(orig, blank):
            def load(f, *a, **k):
                if isinstance(f, (str, os.PathLike)) and os.path.abspath(f) in fakes:
                    return blank()
                return orig(f, *a, **k)

            return load

        self._patch(torch, "load", fake_or(torch.load, _Blank))
        self._patch(torch.jit, "load", fake_or(torch.jit.load, torch.nn.Identity))
        self._patch(scipy.io, "loadmat", fake_or(scipy.io.loadmat, _Blank))
        try:
            import safetensors.torch
        except ImportError:
            pass
        else:
            self._patch(safetensors.torch, "load_file", fake_or(safetensors.torch.load_file, _Blank))
        self._patch(torch.nn.Module, "load_state_dict",
                    lambda module, *a, **k: torch.nn.modules.module._IncompatibleKeys([], []))


@dataclass
class BuildResult:
    metric: str
    requests: list[Need]
    error: str | None  # what stopped the construction (None: it built)
    seconds: float


def try_build(metric: str, follow: bool = True) -> BuildResult:
    """Build the metric under a :class:`DownloadGuard` and report what it asked for (slow: seconds)."""
    import pyiqa
    import pyiqa.utils.download_util as du

    frozen, du.DEFAULT_CACHE_DIR = du.DEFAULT_CACHE_DIR, str(torch_hub_dir() / "pyiqa")  # pyiqa froze it at import
    t = time.perf_counter()
    error = None
    guard = DownloadGuard(follow=follow)
    try:
        with guard:
            pyiqa.create_metric(metric, device="cpu", as_loss=False)
    except DownloadBlocked as e:
        error = f"download of {e.need.short()}"
    except Exception as e:  # noqa: BLE001 - the result reports whatever stopped the construction
        error = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    finally:
        du.DEFAULT_CACHE_DIR = frozen
    return BuildResult(metric, list(guard.requests), error, time.perf_counter() - t)
