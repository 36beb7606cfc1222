"""DownloadGuard: downloads refused and named inside the block, every patched attribute restored after it."""

from __future__ import annotations

import functools
import socket
import sys
import threading
import types
import urllib.request

import huggingface_hub
import huggingface_hub.file_download
import pytest
import safetensors.torch
import scipy.io
import torch
import torch.hub

from teachers.download_guard import DownloadBlocked, DownloadGuard
from w2s.core.errors import MissingWeightsError

NETWORK = [(torch.hub, "download_url_to_file"), (huggingface_hub, "hf_hub_download"),
           (huggingface_hub.file_download, "hf_hub_download"), (urllib.request, "urlopen"), (socket.socket, "connect")]
# replaced only with follow=True, where a refused file stands in as an empty checkpoint
LOADERS = [(torch, "load"), (torch.jit, "load"), (scipy.io, "loadmat"), (safetensors.torch, "load_file"),
           (torch.nn.Module, "load_state_dict")]
URL = "https://example.invalid/weights/model-0123abcd.pth"


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


@pytest.fixture
def by_name():
    """A module that imported the download functions by name, as pyiqa and timm do."""
    mod = types.ModuleType("w2s_test_by_name")
    mod.download_url_to_file = torch.hub.download_url_to_file
    mod.hf_hub_download = functools.partial(huggingface_hub.file_download.hf_hub_download, library_name="timm")
    sys.modules[mod.__name__] = mod
    yield mod
    del sys.modules[mod.__name__]


def _snapshot(targets=NETWORK + LOADERS):
    """Each target's value and whether it sits in the object's own __dict__ (socket.connect is inherited)."""
    return [(obj, attr, getattr(obj, attr), attr in vars(obj)) for obj, attr in targets]


def _assert_same(snapshot):
    for obj, attr, value, own in snapshot:
        assert getattr(obj, attr) is value, f"{getattr(obj, '__name__', obj)}.{attr} was not restored"
        assert (attr in vars(obj)) == own, f"{getattr(obj, '__name__', obj)}.{attr}: __dict__ entry differs"


def _assert_patched(targets):
    for obj, attr, value, _ in targets:
        assert getattr(obj, attr) is not value, f"{getattr(obj, '__name__', obj)}.{attr} was not replaced"


@pytest.mark.parametrize("follow", [False, True])
def test_every_patched_attribute_is_restored_after_a_normal_exit(follow, by_name):
    before = _snapshot()
    by_name_before = _snapshot([(by_name, "download_url_to_file"), (by_name, "hf_hub_download")])
    with DownloadGuard(follow=follow) as guard:
        patched = guard.patched
        _assert_patched(before[:len(NETWORK)])
        _assert_patched(by_name_before)
        if follow:
            _assert_patched(before[len(NETWORK):])
        else:  # only what it needs: the loaders stay untouched when nothing stands in
            _assert_same(before[len(NETWORK):])
    _assert_same(before)
    _assert_same(by_name_before)
    assert len(patched) >= len(NETWORK) + 2 + (len(LOADERS) if follow else 0)
    for obj, attr, original in patched:
        assert getattr(obj, attr) is original


@pytest.mark.parametrize("follow", [False, True])
def test_every_patched_attribute_is_restored_when_the_block_raises(follow, by_name):
    before = _snapshot() + _snapshot([(by_name, "download_url_to_file"), (by_name, "hf_hub_download")])
    with pytest.raises(ValueError, match="boom"), DownloadGuard(follow=follow) as guard:
        patched = guard.patched
        raise ValueError("boom")
    _assert_same(before)
    for obj, attr, original in patched:
        assert getattr(obj, attr) is original
    # and a refused download propagating out of the block restores as well
    with pytest.raises(DownloadBlocked), DownloadGuard():
        torch.hub.download_url_to_file(URL, "/nonexistent/model-0123abcd.pth")
    _assert_same(before)


def test_download_attempts_raise_an_error_naming_the_file_and_url(caches):
    folder = caches / "torch" / "hub" / "pyiqa"
    with DownloadGuard() as guard:
        with pytest.raises(DownloadBlocked) as err:
            torch.hub.download_url_to_file(URL, str(folder / "model-0123abcd.pth"))
        assert isinstance(err.value, MissingWeightsError)  # the CLI prints it as a user error
        assert f"model-0123abcd.pth is not in {folder}" in str(err.value) and URL in str(err.value)
        assert (err.value.need.name, err.value.need.folder) == ("model-0123abcd.pth", "pyiqa")

        with pytest.raises(DownloadBlocked, match="timm/resnet50.a1_in1k/model.safetensors"):
            huggingface_hub.hf_hub_download("timm/resnet50.a1_in1k", "model.safetensors")
        with pytest.raises(DownloadBlocked, match="timm/resnet50.a1_in1k/model.safetensors"):
            huggingface_hub.file_download.hf_hub_download(repo_id="timm/resnet50.a1_in1k", filename="model.safetensors")

        clip_url = "https://openaipublic.azureedge.net/clip/models/abc/RN50.pt"
        with pytest.raises(DownloadBlocked) as err:
            urllib.request.urlopen(clip_url)
        assert "RN50.pt is not here" in str(err.value) and clip_url in str(err.value)

        with socket.socket() as s, pytest.raises(OSError, match="network access to .*127.0.0.1.* refused"):
            s.connect(("127.0.0.1", 9))
    assert [n.short() for n in guard.requests] == [
        "pyiqa/model-0123abcd.pth", "HF:timm/resnet50.a1_in1k (model.safetensors)",
        "HF:timm/resnet50.a1_in1k (model.safetensors)", clip_url.rsplit("/", 1)[1],
    ]


def test_modules_that_imported_by_name_are_covered_and_restored(by_name, caches):
    original_download = by_name.download_url_to_file
    original_partial = by_name.hf_hub_download
    with DownloadGuard():
        with pytest.raises(DownloadBlocked, match="model-0123abcd.pth"):
            by_name.download_url_to_file(URL, str(caches / "x" / "model-0123abcd.pth"))
        with pytest.raises(DownloadBlocked, match="timm/vgg16.tv_in1k/model.safetensors"):
            by_name.hf_hub_download("timm/vgg16.tv_in1k", "model.safetensors")  # the partial's keywords kept
        # a module first imported inside the block binds the stand-ins ...
        late = types.ModuleType("w2s_test_late")
        late.download_url_to_file = torch.hub.download_url_to_file
        late.hf_hub_download = functools.partial(huggingface_hub.hf_hub_download, library_name="timm")
        sys.modules[late.__name__] = late
    try:
        assert by_name.download_url_to_file is original_download and by_name.hf_hub_download is original_partial
        # ... and gets the originals back on exit
        assert late.download_url_to_file is original_download
        assert late.hf_hub_download.func is huggingface_hub.file_download.hf_hub_download
        assert late.hf_hub_download.keywords == {"library_name": "timm"}
    finally:
        del sys.modules[late.__name__]


def test_follow_mode_stands_in_an_empty_checkpoint_and_restores_loading(caches):
    dst = caches / "torch" / "hub" / "checkpoints" / "model-0123abcd.pth"
    with DownloadGuard(follow=True) as guard:
        torch.hub.download_url_to_file(URL, str(dst))  # recorded, not raised
        blank = torch.load(str(dst))
        assert blank == {} and blank["state_dict"]["anything"] == {}
        layer = torch.nn.Linear(2, 2)
        weight = layer.weight.detach().clone()
        layer.load_state_dict({"weight": torch.zeros(2, 2)})  # not loaded in this mode
        assert torch.equal(layer.weight, weight)
    assert [(n.name, n.folder) for n in guard.requests] == [("model-0123abcd.pth", "checkpoints")]
    with pytest.raises(FileNotFoundError):
        torch.load(str(dst))
    layer.load_state_dict({"weight": torch.zeros(2, 2), "bias": torch.zeros(2)})
    assert not layer.weight.any()


def test_nested_guards_restore_each_level(caches):
    before = _snapshot()
    with DownloadGuard() as outer:
        outer_state = _snapshot()
        with pytest.raises(KeyError), DownloadGuard(follow=True):
            torch.hub.download_url_to_file(URL, str(caches / "a.pth"))  # the inner, following guard
            raise KeyError("inner")
        _assert_same(outer_state)  # back to the outer guard's stand-ins, not the originals
        with pytest.raises(DownloadBlocked):
            torch.hub.download_url_to_file(URL, str(caches / "b.pth"))
        with DownloadGuard():
            pass
        _assert_same(outer_state)
    _assert_same(before)
    assert [n.name for n in outer.requests] == ["b.pth"]


def test_a_patch_that_fails_on_entry_undoes_the_ones_before_it():
    class ReadOnly(types.ModuleType):
        def __setattr__(self, name, value):
            raise TypeError(f"{self.__name__}.{name} is read-only")

    stubborn = ReadOnly("w2s_test_read_only")
    vars(stubborn)["download_url_to_file"] = torch.hub.download_url_to_file  # as its own import would bind it
    sys.modules[stubborn.__name__] = stubborn
    before = _snapshot()
    try:
        with pytest.raises(TypeError, match="read-only"), DownloadGuard():
            pytest.fail("the block must not run")
    finally:
        del sys.modules[stubborn.__name__]
    _assert_same(before)
    # the guard let go of its lock: another thread can take one
    done = []
    worker = threading.Thread(target=lambda: done.append(DownloadGuard().__enter__().__exit__(None, None, None)),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done == [False]


def test_a_guard_is_not_reentered():
    guard = DownloadGuard()
    before = _snapshot()
    with guard, pytest.raises(RuntimeError, match="already in use"):
        guard.__enter__()
    _assert_same(before)
