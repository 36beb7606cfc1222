"""Fixtures of the student tests: a tiny random CLIP folder, built offline once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    from w2s.testing.tiny_clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "clip")
