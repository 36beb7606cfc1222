"""Helpers for tests: tiny random models built offline in milliseconds.

Nothing here is imported by the pipeline itself; tests (and future students'
tests) import :mod:`w2s.testing.tiny_vlm` to get a model folder that loads
through the very same ``from_pretrained`` code path as a real checkpoint.
"""
