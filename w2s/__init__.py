"""w2s-vqa: weak-to-strong video quality assessment without human opinion scores.

``w2s.load(name_or_path)`` gives a scorer for any saved student or teacher (:mod:`w2s.api`).
"""

__version__ = "0.1.0"
__all__ = ["Scorer", "__version__", "load"]


def __getattr__(name: str):
    # the API pulls in torch; `import w2s` (and `w2s list`) stays light until it is used
    if name in ("load", "Scorer"):
        from w2s import api

        return getattr(api, name)
    raise AttributeError(f"module 'w2s' has no attribute {name!r}")


def __dir__() -> list[str]:
    # what __getattr__ provides is listed too (tab completion, dir(w2s)), still without importing torch
    return sorted(set(globals()) | set(__all__))
