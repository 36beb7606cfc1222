"""User-facing errors.

A ``W2SError`` is a mistake the user can fix (a bad config key, a missing
file, an unknown name). The CLI prints its message on one line and exits
non-zero without a traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class W2SError(Exception):
    """An error whose message tells the user what to change."""


class ConfigError(W2SError):
    """A config file, key or value is wrong."""


class MediaError(W2SError):
    """A video or image cannot be read."""


class MissingWeightsError(W2SError):
    """A weight file is not where it was looked for."""


class InputError(W2SError):
    """Something handed to the Python API cannot be scored (a missing file, frames of the wrong shape)."""
