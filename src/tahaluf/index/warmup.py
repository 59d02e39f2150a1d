"""Compile the numba index kernels before serving (pure: builds throwaway indexes).

The kernels are compiled on first use and cached on disk (``cache=True``);
a cold cache costs about 15 s of compilation, once per install. The hub runs
:func:`warm_up` while a worker loads, so ``/health/ready`` also means "the
first lookup will not stall on a compiler". Read-only (memory-mapped)
arrays get their own specialisations, so a tiny mapped snapshot is queried too.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from tahaluf.index.pdq import PDQIndex
from tahaluf.index.pdq_segment import MIN_TABLE_ROWS, native_available
from tahaluf.index.text import TextIndex
from tahaluf.signals.text import TextSketch, text_signal

__all__ = ["warm_up"]


@lru_cache(maxsize=1)
def warm_up() -> None:
    """Run every kernel once on tiny inputs (a no-op without numba, and after
    the first call in a process: compiled kernels stay loaded)."""
    if not native_available():
        return
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=(MIN_TABLE_ROWS, 4), dtype=np.uint64)
    index = PDQIndex()
    index.add(np.arange(MIN_TABLE_ROWS, dtype=np.int64), hashes)
    queries = hashes[:2].copy()
    for use_tables in (True, False):
        index.query(queries, 31, use_tables=use_tables)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm.pdqidx"
        index.save(path)
        mapped = PDQIndex.load(path, mmap=True)
        for use_tables in (True, False):
            mapped.query(queries, 31, use_tables=use_tables)
        del mapped
    text = TextIndex()
    sketch = TextSketch.from_value(text_signal("a short neutral sentence about the weather and the market").value)
    text.add(1, sketch)
    text.query_many([sketch])
