"""Which device a command or ``w2s.load`` runs on: ``--device`` / ``device=`` resolved once, here.

``auto`` (the default everywhere) takes a CUDA GPU when torch sees one, else
Apple's MPS, else the CPU. A device asked for by name that this machine lacks
is an error, never a silent fallback: a user who typed ``cuda`` and got the
CPU would wait hours without knowing why.
"""

from __future__ import annotations

import torch

from w2s.core.errors import ConfigError

AUTO = "auto"
CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available() -> str:
    """What this machine offers, in words (for the error naming a missing device)."""
    found = []
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        found.append(f"{n} CUDA GPU{'s' if n != 1 else ''} (cuda:0..cuda:{n - 1})")
    if _mps_available():
        found.append("mps")
    return ", ".join([*found, "cpu"])


def resolve_device(spec: str | torch.device | None = AUTO) -> torch.device:
    """``spec`` (auto, cpu, cuda, cuda:N, mps, or None for auto) as a torch device this machine has.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = AUTO if spec is None else str(spec).strip().lower()
    if text == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {spec!r} is not a device torch knows: use {CHOICES}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {spec!r} is not supported here: use {CHOICES}")
    if device.type == "cuda" and not torch.cuda.is_available():
        missing = "torch sees no CUDA GPU on this machine"
    elif device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        missing = f"torch sees {torch.cuda.device_count()} CUDA GPU(s) on this machine"
    elif device.type == "mps" and not _mps_available():
        missing = "torch sees no Apple MPS device on this machine"
    else:
        return device
    raise ConfigError(f"device {spec!r} asked for, but {missing} (available: {available()}); "
                      "pass --device auto (device='auto' in Python) or cpu")
