"""Shared fixtures: real frames and a tiny real-content pool, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_pools(tmp_path_factory) -> dict[str, Path]:
    """The embedded train and eval sample pools (real content from installed packages)."""
    from w2s.media.samples import build_samples

    root = tmp_path_factory.mktemp("samples")
    build_samples(root / "train", split="train", seed=0, progress=False)
    build_samples(root / "eval", split="eval", seed=0, progress=False)
    return {"train": root / "train", "eval": root / "eval"}


@pytest.fixture(scope="session")
def backbone():
    from students.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0()


# Pinned here, not left to the defaults (the quickstart's recipe, slower: fr teachers, a teacher prior):
# what the tests using it were written against, and fast.
TINY_CONFIG = """
name: {name}
output_dir: {out}
seed: 0
rounds: 2
teachers: [pyiqa:piqe, pyiqa:entropy]
distortions: {{blur: [1.0, 3.0], darken: [0.6, 0.3], noise: [0.02, 0.08]}}
pool: {{source: {train}, limit: 4, max_side: 96, sampler: {{name: uniform, num_frames: 2}}}}
pairs: {{teacher_pairs: 400, clean_pairs: 0, ensemble: equal, fr_scope: any, student_votes: both}}
hard_cases: {{folds: 2, teacher: 40, candidates: 400}}
student: {{prior: none}}
train: {{epochs: 4, batch_size: 128}}
eval:
  source: {eval}
  limit: 2
  ood: {{contrast: [0.7, 0.4, 0.2], h265: [30, 51]}}
"""


@pytest.fixture
def tiny_config(tmp_path, sample_pools):
    """Write a 2-round config over a few real clips; returns a factory (name -> path)."""

    def make(name: str = "tiny", **extra) -> Path:
        text = TINY_CONFIG.format(name=name, out=tmp_path / "runs", train=sample_pools["train"], eval=sample_pools["eval"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path

    return make


# --- no outward network -------------------------------------------------------------------
# The suite runs offline (README): a test that reaches past this machine is a bug, whether it
# hangs on a firewalled network or quietly downloads on an open one. Every
# socket.socket.connect / connect_ex in this process goes through `_checked_connect`: loopback
# (127.0.0.0/8, ::1, also as ::ffff:127.x.y.z), the literal name "localhost" and unix sockets
# pass; anything else raises OutwardConnectionRefused naming the address, before any packet or
# DNS lookup. The error is deliberately no OSError, so retry and offline-fallback code that
# catches OSError cannot turn it into a silent pass; code that swallows every exception is
# caught too: each attempt is recorded and fails the test it happened in (see `network_guard`).
# Child processes (the DDP test's `accelerate launch`) are not covered: the patch is per process.

import functools
import ipaddress
import socket


class OutwardConnectionRefused(RuntimeError):
    """A test tried to open a network connection to an address that is not this machine."""


_OUTWARD_ATTEMPTS: list[str] = []


def _is_local(sock: socket.socket, address) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", object()):
        return True
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple) or not address:
        return False
    host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 scope id (fe80::1%eth0)
    except ValueError:
        return False  # any other host name: refused unresolved, so no DNS query leaves either
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _checked_connect(original):
    @functools.wraps(original)
    def connect(self, address, *args, **kwargs):
        if not _is_local(self, address):
            _OUTWARD_ATTEMPTS.append(repr(address))
            raise OutwardConnectionRefused(
                f"outward network connection to {address!r} refused: the test suite runs offline "
                "(only loopback 127.0.0.0/8, ::1 and unix sockets may be connected to)"
            )
        return original(self, address, *args, **kwargs)

    return connect


@pytest.fixture(scope="session", autouse=True)
def _no_outward_sockets():
    """Patch connect/connect_ex for the whole session, before any other fixture can open a socket."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _checked_connect(socket.socket.connect))
        mp.setattr(socket.socket, "connect_ex", _checked_connect(socket.socket.connect_ex))
        yield _OUTWARD_ATTEMPTS
    if _OUTWARD_ATTEMPTS:  # after the last test: a module or session fixture's teardown
        pytest.fail(f"outward network connections attempted after the last test: {', '.join(_OUTWARD_ATTEMPTS)}")


@pytest.fixture(autouse=True)
def network_guard(_no_outward_sockets):
    """Fail the test if anything in it (or in fixtures set up for it) tried an outward connection.

    Yields the list of refused addresses; a test that provokes one on purpose checks it and
    empties it (tests/test_network_guard.py).
    """
    attempts = _no_outward_sockets
    if attempts:  # made while wider-scoped fixtures were set up (or torn down) before this test
        found, attempts[:] = ", ".join(attempts), []
        pytest.fail(f"outward network connection attempted outside a test body (a fixture's setup or teardown): {found}")
    yield attempts
    if attempts:
        found, attempts[:] = ", ".join(attempts), []
        pytest.fail(f"this test attempted outward network connections (refused): {found}")
