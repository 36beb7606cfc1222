"""Human-rated VQA sets: official label files plus a video folder, read into a LabelledSet."""

from w2s.labelled.presets import PRESETS, Preset, preset_names
from w2s.labelled.readers import LabelFileError, load_labelled_set
from w2s.labelled.set import LabelledSet

__all__ = ["PRESETS", "LabelFileError", "LabelledSet", "Preset", "load_labelled_set", "preset_names"]
