"""Progress of a long loop: a bar on a terminal, a log line every tenth of the way elsewhere.

A tqdm bar redirected to a file or a CI log is one long line of carriage
returns; there, :func:`progress` logs ``desc: 30/100 videos (30%)`` lines
instead, at most one per :data:`MIN_SECONDS` (a quick loop says nothing but
that it is done, when it took that long). On a terminal it is a tqdm bar, and
log lines written while it runs go above the bar, not through it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

STEPS = 10  # a line each tenth of the way
MIN_SECONDS = 5.0  # at most a line this often: a loop that ends sooner says nothing


def interactive() -> bool:
    """Whether progress is watched live: stderr is a terminal, or a Jupyter kernel's (which draws tqdm's widget)."""
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) or type(stream).__module__.startswith("ipykernel")


def progress(iterable: Iterable[T], desc: str, unit: str = "item", total: int | None = None,
             enabled: bool = True) -> Iterable[T]:
    """``iterable``, with its progress shown (:mod:`this module <w2s.core.progress>`); ``enabled=False``:
    ``iterable`` itself (another process tells the story, or the caller asked for quiet)."""
    if not enabled:
        return iterable
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if interactive():
        return _bar(iterable, desc, unit, total)
    return _logged(iterable, desc, unit, total)


def _bar(iterable: Iterable[T], desc: str, unit: str, total: int | None) -> Iterator[T]:
    from contextlib import nullcontext

    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    # our log lines through tqdm.write, above the bar; only where logging was set up (the CLI)
    redirect = logging_redirect_tqdm() if logging.getLogger().handlers else nullcontext()
    with redirect, tqdm(iterable, desc=desc, unit=unit, total=total) as bar:
        yield from bar


def _logged(iterable: Iterable[T], desc: str, unit: str, total: int | None) -> Iterator[T]:
    start = last = time.monotonic()
    done = reached = 0  # items done; tenths of the way reached
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if total and done < total and done * STEPS // total > reached:
            reached = done * STEPS // total
            if now - last >= MIN_SECONDS:
                log.info("%s: %d/%d %ss (%d%%)", desc, done, total, unit, 100 * done // total)
                last = now
        elif not total and now - last >= MIN_SECONDS:
            log.info("%s: %d %ss", desc, done, unit)
            last = now
    if done and time.monotonic() - start >= MIN_SECONDS:
        log.info("%s: %d %ss done in %.0f s", desc, done, unit, time.monotonic() - start)
