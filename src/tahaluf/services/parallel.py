"""Run per-item work on every core, yielding results in input order.

``jobs == 1`` runs in this process (no start-up cost, easy to profile). With
more jobs a process pool is used; a bounded window of items is in flight so
memory stays flat on millions of inputs, and results come back in the order
the inputs were given (so output is deterministic).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["default_jobs", "run_ordered"]

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds and shares the imported kernels;
    # elsewhere fall back to the platform default.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def run_ordered(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    jobs: int,
    passthrough: Callable[[T], R | None] | None = None,
    window_per_job: int = 8,
) -> Iterator[R]:
    """Yield ``func(item)`` for each item, in input order, using ``jobs`` processes.

    ``passthrough(item)`` may return a ready result for items that need no
    work (e.g. a path that does not exist); it is yielded in order too.
    """
    if jobs <= 1:
        for item in items:
            ready = passthrough(item) if passthrough else None
            yield ready if ready is not None else func(item)
        return
    window = max(2, jobs * window_per_job)
    pending: deque[Future[R] | R] = deque()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context()) as pool:
        for item in items:
            ready = passthrough(item) if passthrough else None
            pending.append(ready if ready is not None else pool.submit(func, item))
            while len(pending) >= window:
                yield _resolve(pending.popleft())
        while pending:
            yield _resolve(pending.popleft())


def _resolve(entry: Future[R] | R) -> R:
    if isinstance(entry, Future):
        return entry.result()
    return entry
