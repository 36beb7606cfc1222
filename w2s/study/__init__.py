"""Measuring models against human opinion scores: bootstrap metrics, scoring a labelled set, plots.

Import the submodules directly (``w2s.study.bootstrap``, ``.model_eval``, ``.study``, ``.calibrate``,
``.features``, ``.plots``, ``.proxy``): ``model_eval`` and what builds on it pull in video decoding and
the teachers, which the others do not need.
"""
