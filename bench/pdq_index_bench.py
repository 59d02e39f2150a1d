"""Benchmark tahaluf's PDQIndex against python-threatexchange's PDQIndex.

    .venv/bin/python bench/pdq_index_bench.py            # 1M hashes
    .venv/bin/python bench/pdq_index_bench.py --big      # 10M hashes
    .venv/bin/python bench/pdq_index_bench.py --n 200000 --skip-pytx

One run builds a random bank (plus planted near-duplicates), runs the same
queries (half near-duplicates of bank rows at 1..40 flipped bits, half random)
through both indexes, prints lookups/s and the ratios, and checks both result
sets against a brute-force scan. tahaluf runs its default path (the numba
kernels when numba imports) and, for comparison, its numpy fallback on the
same rows (``--skip-numpy`` to leave it out). It also times the first query
(numba import and loading the cached kernels, or compiling them), build,
snapshot save and load-from-snapshot, and reports bytes per hash.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tahaluf.index import PDQIndex, hashes_to_hex
from tahaluf.index.pdq_segment import Segment, native_available

U64_MAX = np.iinfo(np.uint64).max


def make_bank(rng: np.random.Generator, n: int) -> np.ndarray:
    bank = rng.integers(0, U64_MAX, size=(n, 4), dtype=np.uint64, endpoint=True)
    planted = n // 100  # 1% of rows are near-duplicates of other rows
    src = rng.integers(0, n, size=planted)
    bank[n - planted :] = flip_bits(rng, bank[src], rng.integers(1, 25, size=planted))
    return bank


def flip_bits(rng: np.random.Generator, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Flip counts[i] distinct random bits of row i (vectorised)."""
    out = hashes.copy()
    keys = rng.random((len(hashes), 256))
    ranks = np.argsort(keys, axis=1)
    chosen = np.arange(256)[None, :] < counts[:, None]
    rows, pos = np.nonzero(chosen)
    bits = ranks[rows, pos]
    np.bitwise_xor.at(out, (rows, bits // 64), np.uint64(1) << (bits % 64).astype(np.uint64))
    return out


def brute_force(bank: np.ndarray, queries: np.ndarray, t: int) -> set[tuple[int, int, int]]:
    """Every (query row, bank row, distance) within t, by a plain full scan."""
    found = set()
    for q, query in enumerate(queries):
        dist = np.bitwise_count(bank ^ query).sum(axis=1)
        for row in np.flatnonzero(dist <= t):
            found.add((q, int(row), int(dist[row])))
    return found


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_tahaluf(bank, queries, t, n_single):
    index, build_s = timed(lambda: _built(bank))
    _, first_s = timed(lambda: index.query(queries[:4], t))  # numba import, kernels, probe plan
    path = "numba kernels" if native_available() else "numpy (numba not importable)"
    matches, query_s = timed(lambda: index.query(queries, t))
    _, single_s = timed(lambda: [index.query(queries[i : i + 1], t) for i in range(n_single)])
    print(f"tahaluf  path: {path}; first query {first_s:.2f} s (import numba, load or compile kernels)")
    print(f"tahaluf  build {build_s:7.2f} s   {index.nbytes / len(bank):6.1f} bytes/hash (ids, hashes, tombstones, tables)")
    print(f"tahaluf  batched   {len(queries) / query_s:10.0f} lookups/s   ({len(matches)} matches)")
    print(f"tahaluf  one by one{n_single / single_s:10.0f} lookups/s   (1 query per call, {n_single} calls)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.pdqidx"
        _, save_s = timed(lambda: index.save(path))
        loaded, load_s = timed(lambda: PDQIndex.load(path))
        mapped, map_s = timed(lambda: PDQIndex.load(path, mmap=True))
        size_mb = path.stat().st_size / 1e6
        assert len(mapped) == len(index)
        del mapped
    print(f"tahaluf  snapshot save {save_s:.2f} s, load {load_s:.2f} s, load memory-mapped {map_s:.2f} s "
          f"({size_mb:.0f} MB, tables included)")
    assert len(loaded) == len(index)
    got = {(int(q), int(i), int(d)) for q, i, d in zip(matches.query_rows, matches.ids, matches.distances)}
    return got, len(queries) / query_s, n_single / single_s


def bench_numpy_fallback(bank, queries, t):
    """The numpy scan (no numba: no tables) over the same rows (ids = row numbers)."""
    segment = Segment(np.arange(len(bank), dtype=np.int64), bank, min_table_rows=len(bank) + 1)
    (q, rows, d), query_s = timed(lambda: segment.query(queries, t, native=False))
    found = {(int(a), int(b), int(c)) for a, b, c in zip(q, rows, d)}
    print(f"tahaluf  numpy fallback (scan) {len(queries) / query_s:10.0f} lookups/s   "
          f"({len(found)} matches, {len(queries)} queries)")
    return found


def _built(bank):
    index = PDQIndex()
    index.add(np.arange(len(bank), dtype=np.int64), bank)
    return index


def bench_pytx(bank, queries, t, threads):
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex as PytxIndex

    if threads:  # faiss's OpenMP pool; its default (all cores) collapses when another process is busy
        import faiss

        faiss.omp_set_num_threads(threads)

    assert PytxIndex.get_match_threshold() == t, "pytx's PDQIndex queries at threshold 31 only"
    bank_hex, query_hex = hashes_to_hex(bank), hashes_to_hex(queries)
    index, build_s = timed(lambda: PytxIndex(entries=((h, i) for i, h in enumerate(bank_hex))))
    index.query(query_hex[0])
    results, query_s = timed(lambda: [index.query(h) for h in query_hex])
    shown = threads or "faiss default"
    print(f"pytx     build {build_s:7.2f} s   (PDQIndex, faiss IndexBinaryMultiHash, threads: {shown})")
    print(f"pytx     one by one{len(queries) / query_s:10.0f} lookups/s   ({sum(map(len, results))} matches)")
    got = {(q, int(m.metadata), int(m.similarity_info.distance)) for q, ms in enumerate(results) for m in ms}
    return got, len(queries) / query_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="bank size (default 1M)")
    parser.add_argument("--big", action="store_true", help="10M hashes")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--check", type=int, default=None, help="queries checked by brute force (default all; 200 with --big)")
    parser.add_argument("--single", type=int, default=300, help="tahaluf one-query-per-call lookups to time")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--skip-pytx", action="store_true")
    parser.add_argument("--skip-numpy", action="store_true", help="do not time the numpy fallback")
    parser.add_argument("--numpy-queries", type=int, default=100, help="queries for the (slow) numpy scan")
    parser.add_argument("--pytx-threads", type=int, default=0, help="faiss OpenMP threads (default: faiss's own)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    n = 10_000_000 if args.big else args.n
    check = args.check if args.check is not None else (200 if args.big else args.queries)
    rng = np.random.default_rng(args.seed)
    bank = make_bank(rng, n)
    near = rng.integers(0, n, size=args.queries // 2)
    queries = np.concatenate(
        [
            flip_bits(rng, bank[near], rng.integers(1, 41, size=len(near))),
            rng.integers(0, U64_MAX, size=(args.queries - len(near), 4), dtype=np.uint64, endpoint=True),
        ]
    )
    queries = queries[rng.permutation(len(queries))]
    print(f"bank {n:,} hashes, {len(queries):,} queries, threshold {args.threshold}")
    ours, ours_rate, single_rate = bench_tahaluf(bank, queries, args.threshold, args.single)
    if not args.skip_numpy:
        fallback = bench_numpy_fallback(bank, queries[: args.numpy_queries], args.threshold)  # ids = rows
        same = fallback == {m for m in ours if m[0] < args.numpy_queries}
        print(f"tahaluf  numpy fallback identical to default path: {same}")
        ok_fallback = same
    else:
        ok_fallback = True
    expected, brute_s = timed(lambda: brute_force(bank, queries[:check], args.threshold))
    ours_checked = {m for m in ours if m[0] < check}
    ok = ours_checked == expected
    print(f"brute force on {check} queries ({brute_s:.1f} s): tahaluf identical: {ok} ({len(expected)} matches)")
    if not args.skip_pytx:
        theirs, theirs_rate = bench_pytx(bank, queries, args.threshold, args.pytx_threads)
        theirs_checked = {m for m in theirs if m[0] < check}
        print(f"pytx identical to brute force: {theirs_checked == expected}")
        print(f"ratio tahaluf batched / pytx: {ours_rate / theirs_rate:.1f}x")
        print(f"ratio tahaluf one by one / pytx: {single_rate / theirs_rate:.1f}x")
    return 0 if ok and ok_fallback else 1


if __name__ == "__main__":
    sys.exit(main())
