"""Measuring models against human opinion scores: bootstrap metrics, scoring a labelled set, plots.

Import the submodules directly (``w2s.study.bootstrap``, ``.evaluate``, ``.plots``):
``evaluate`` pulls in video decoding and the teachers, which the others do not need.
"""
