"""Decode the next files while the model scores this one.

A GPU scores a clip in milliseconds and then waits for the CPU to decode the
next; reading a few files ahead in threads (PyAV and OpenCV release the GIL
while they decode) keeps it busy. The results come back in the input order,
and a file that cannot be read comes back as its exception, so one bad file
becomes one failed row and never stops the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 2  # decoding threads: enough to hide a decode behind a GPU's forward, few enough to share the CPU
AHEAD = 4  # files decoded (and held in memory) ahead of the one being scored, at most


def read_ahead(items: Iterable[T], read: Callable[[T], R], workers: int = WORKERS,
               ahead: int = AHEAD) -> Iterator[tuple[T, R | Exception]]:
    """``(item, read(item))`` for each of ``items``, in order, with up to ``ahead`` reads running or
    done in ``workers`` threads meanwhile; a read that raised gives its exception instead of a result.
    ``workers=0`` reads each in the caller, one at a time.

    >>> [r for _, r in read_ahead([1, 2, 3], lambda x: 10 // (x - 2))]  # doctest: +ELLIPSIS
    [-10, ZeroDivisionError(...), 10]
    """
    if workers < 1:
        for item in items:
            yield item, _result(read, item)
        return
    pool = ThreadPoolExecutor(workers, "decode")
    pending: deque = deque()  # (item, future), the oldest first
    try:
        for item in items:
            pending.append((item, pool.submit(_result, read, item)))
            if len(pending) > ahead:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
    finally:  # the caller stopped (an error, Ctrl-C, a raise on a bad file): start no further read
        pool.shutdown(wait=True, cancel_futures=True)


def _result(read: Callable[[T], R], item: T) -> R | Exception:
    try:
        return read(item)
    except Exception as e:  # noqa: BLE001 - handed to the caller, which decides (a failed row, or a raise)
        return e


def unwrap(result: R | Exception) -> R:
    """A result of :func:`read_ahead`, or its exception raised here."""
    if isinstance(result, Exception):
        raise result
    return result
