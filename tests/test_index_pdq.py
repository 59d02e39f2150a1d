"""PDQIndex: results equal a brute-force scan at every threshold, on every path."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tahaluf.errors import Conflict, InvalidInput, StorageError
from tahaluf.index import PDQIndex, hashes_from_hex, hashes_to_hex
from tahaluf.index.pdq_plan import probe_count
from tahaluf.index.pdq_segment import Segment, native_available

U64_MAX = np.iinfo(np.uint64).max


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, U64_MAX, size=(n, 4), dtype=np.uint64, endpoint=True)


def flip_bits(rng: np.random.Generator, hashes: np.ndarray, k: int) -> np.ndarray:
    """Copy of ``hashes`` with ``k`` distinct random bits flipped in each row."""
    out = hashes.copy()
    for row in out:
        for bit in rng.choice(256, size=k, replace=False):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def brute_force(ids: np.ndarray, bank: np.ndarray, queries: np.ndarray, t: int) -> set[tuple[int, int, int]]:
    """Reference: every (query row, id, distance) with distance <= t, by full scan."""
    found = set()
    for q, query in enumerate(queries):
        dist = np.bitwise_count(bank ^ query).sum(axis=1)
        for row in np.flatnonzero(dist <= t):
            found.add((q, int(ids[row]), int(dist[row])))
    return found


def as_set(matches) -> set[tuple[int, int, int]]:
    return {(int(q), int(i), int(d)) for q, i, d in zip(matches.query_rows, matches.ids, matches.distances)}


def bank_and_queries(seed: int, n: int, n_queries: int):
    """A bank, ids, and queries: half near-duplicates of indexed rows, half random."""
    rng = np.random.default_rng(seed)
    bank = random_hashes(rng, n)
    ids = rng.choice(10 * n + 10, size=n, replace=False).astype(np.int64) - 5 * n
    near = rng.integers(0, n, size=n_queries // 2) if n else np.empty(0, dtype=np.int64)
    parts = [flip_bits(rng, bank[near[i : i + 1]], int(rng.integers(0, 70))) for i in range(len(near))]
    queries = np.concatenate([*parts, random_hashes(rng, n_queries - len(near))])
    return ids, bank, queries


# -- equivalence with brute force ------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 60),
    n_queries=st.integers(1, 12),
    t=st.integers(0, 256),
)
def test_query_equals_brute_force_on_every_path(seed, n, n_queries, t):
    ids, bank, queries = bank_and_queries(seed, n, n_queries)
    index = PDQIndex(min_table_rows=0)  # tables even for tiny banks
    index.add(ids, bank)
    expected = brute_force(ids, bank, queries, t)
    for use_tables in (None, True, False):
        assert as_set(index.query(queries, t, use_tables=use_tables)) == expected


def test_every_threshold_0_to_256_matches_brute_force():
    ids, bank, queries = bank_and_queries(7, 300, 24)
    index = PDQIndex(min_table_rows=0)
    index.add(ids, bank)
    dist = np.bitwise_count(queries[:, None, :] ^ bank[None, :, :]).sum(axis=2)
    for t in range(257):
        q, row = np.nonzero(dist <= t)
        expected = {(int(a), int(ids[b]), int(dist[a, b])) for a, b in zip(q, row)}
        assert as_set(index.query(queries, t, use_tables=False)) == expected, t
        assert as_set(index.query(queries, t)) == expected, t
        if t <= 96:  # forced probing above this is covered by the Hypothesis test
            assert as_set(index.query(queries, t, use_tables=True)) == expected, t
    assert len(expected) == len(queries) * len(bank)  # t=256 matches everything


def test_default_path_on_large_segment_equals_brute_force():
    # 40,000 rows: the default builds probe tables and uses them at t=31
    ids, bank, queries = bank_and_queries(11, 40_000, 40)
    index = PDQIndex()
    index.add(ids, bank)
    assert index._segments[0].uses_tables(31)
    for t in (0, 20, 31, 47, 80):
        assert as_set(index.query(queries, t)) == brute_force(ids, bank, queries, t)


def test_results_are_sorted_and_grouped_per_query():
    ids, bank, queries = bank_and_queries(3, 200, 10)
    index = PDQIndex()
    index.add(ids, bank)
    matches = index.query(queries, 70)
    assert len(matches) > 0
    keys = list(zip(matches.query_rows, matches.distances, matches.ids))
    assert keys == sorted(keys)
    grouped = matches.per_query()
    assert [row for row, _, _ in grouped] == list(range(len(queries)))
    for row, found_ids, dists in grouped:
        assert np.array_equal(found_ids, matches.for_query(row)[0])
        assert np.array_equal(dists, matches.for_query(row)[1])
    assert sum(len(i) for _, i, _ in grouped) == len(matches)


# -- numba kernels and numpy fallback ---------------------------------------


def segment_pairs(segment: Segment, queries: np.ndarray, t: int, use_tables: bool, native: bool) -> list:
    q, rows, d = segment.query(queries, t, use_tables, native)
    assert q.dtype == rows.dtype == np.int64 and d.dtype == np.uint16
    return sorted(zip(q.tolist(), rows.tolist(), d.tolist()))


def brute_force_rows(bank: np.ndarray, alive: np.ndarray, queries: np.ndarray, t: int) -> list:
    dist = np.bitwise_count(queries[:, None, :] ^ bank[None, :, :]).sum(axis=2)
    q, row = np.nonzero((dist <= t) & alive[None, :])
    return sorted(zip(q.tolist(), row.tolist(), dist[q, row].tolist()))


#: (native, use_tables): numba tables, numba scan, numpy scan (numpy has no tables)
PATHS = ((True, True), (True, False), (False, False))


def test_numba_kernels_are_available():
    assert native_available()  # numba is a dependency: the fast path must be in use


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    n_queries=st.integers(0, 10),
    t=st.integers(0, 256),
    dead=st.integers(0, 40),
    slot_bits=st.sampled_from([1, 2, 3, 5, 20]),
)
def test_numba_and_numpy_segments_equal_brute_force_with_tombstones(seed, n, n_queries, t, dead, slot_bits):
    # slot_bits below 20 groups rows in slots as a segment of over 2**20 rows does
    ids, bank, queries = bank_and_queries(seed, n, n_queries)
    order = np.argsort(ids)
    ids, bank = ids[order], bank[order]
    segment = Segment(ids, bank, min_table_rows=0, slot_bits=slot_bits)
    gone = np.random.default_rng(seed).choice(n, size=min(dead, n), replace=False)
    if len(gone):
        segment.tombstone(gone)
    # lists, not sets: every pair must come back exactly once
    expected = brute_force_rows(bank, segment.alive, queries, t)
    for native, use_tables in PATHS:
        assert segment_pairs(segment, queries, t, use_tables, native) == expected


def test_skewed_bank_with_shared_chunks_reports_each_pair_once():
    # sparse hashes: most 20-bit chunks are 0, so rows collide in many chunks at
    # once (duplicate removal) and buckets hold thousands of rows (buffer growth)
    rng = np.random.default_rng(17)
    bits = rng.random((6000, 256)) < 0.03
    bank = np.packbits(bits, axis=1).view(">u8").astype(np.uint64)
    queries = np.concatenate([bank[:5], np.packbits(rng.random((5, 256)) < 0.03, axis=1).view(">u8").astype(np.uint64)])
    for slot_bits in (20, 10):
        segment = Segment(np.arange(6000, dtype=np.int64), bank, min_table_rows=0, slot_bits=slot_bits)
        segment.tombstone(np.arange(0, 6000, 7))
        for t in (0, 9, 16, 31, 47):
            expected = brute_force_rows(bank, segment.alive, queries, t)
            assert len(expected) > (1000 if t >= 16 else 0)
            for native, use_tables in PATHS:
                assert segment_pairs(segment, queries, t, use_tables, native) == expected, (t, native, slot_bits)


def test_default_choice_between_tables_and_scan_is_exact_on_both_sides():
    ids, bank, queries = bank_and_queries(19, 40_000, 30)
    index = PDQIndex()
    index.add(ids, bank)
    (segment,) = index._segments
    assert segment.has_tables
    low = [t for t in (20, 31, 35, 38, 40, 44) if segment.uses_tables(t, native=True)]
    assert 0 < len(low) < 6 and probe_count(low[-1], segment.shape.key_bits) < probe_count(44, segment.shape.key_bits)
    for t in (31, 35, 36, 37, 38, 40):
        assert as_set(index.query(queries, t)) == brute_force(ids, bank, queries, t)


_WITHOUT_NUMBA = """
import sys
sys.modules["numba"] = None  # import numba now raises ImportError
import numpy as np
from tahaluf.index import PDQIndex
from tahaluf.index.pdq_segment import Segment, native_available
rng = np.random.default_rng(3)
bank = rng.integers(0, 2**64 - 1, size=(5000, 4), dtype=np.uint64, endpoint=True)
queries = bank[:20] ^ np.array([0x0F0F, 0, 0, 1], dtype=np.uint64)  # 9 bits
index = PDQIndex()
index.add(np.arange(5000), bank)
got = index.query(queries, 31)
dist = np.bitwise_count(queries[:, None, :] ^ bank[None, :, :]).sum(axis=2)
q, row = np.nonzero(dist <= 31)
assert sorted(zip(got.query_rows.tolist(), got.ids.tolist())) == sorted(zip(q.tolist(), row.tolist()))
try:
    Segment(np.arange(5000), bank).query(queries, 31, native=True)
except ValueError as exc:
    print("refused:", exc)
print("native:", native_available(), "matches:", len(got))
"""


def test_numpy_fallback_when_numba_cannot_be_imported():
    done = subprocess.run([sys.executable, "-c", _WITHOUT_NUMBA], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused: the numba kernels are not available" in done.stdout
    assert "native: False matches: 20" in done.stdout


# -- incremental add and remove ---------------------------------------------


def test_incremental_adds_and_removes_match_brute_force_on_live_rows():
    rng = np.random.default_rng(5)
    index = PDQIndex(min_table_rows=64)
    live: dict[int, np.ndarray] = {}
    next_id = 0
    for step in range(12):
        size = int(rng.integers(1, 150))
        batch = random_hashes(rng, size)
        if live:  # planted near-duplicates of rows already indexed
            some = rng.choice(list(live), size=min(5, len(live), size), replace=False)
            batch[:len(some)] = flip_bits(rng, np.stack([live[i] for i in some]), 12)
        new_ids = np.arange(next_id, next_id + size, dtype=np.int64)
        next_id += size
        index.add(new_ids, batch)
        live.update(zip(new_ids.tolist(), batch))
        if step % 3 == 2:
            gone = rng.choice(list(live), size=len(live) // 3, replace=False)
            assert index.remove(np.concatenate([gone, [10**12]])) == len(gone)
            for i in gone.tolist():
                del live[i]
        ids = np.array(sorted(live), dtype=np.int64)
        bank = np.stack([live[i] for i in ids.tolist()])
        queries = np.concatenate([flip_bits(rng, bank[:8], 25), random_hashes(rng, 4)])
        assert len(index) == len(live)
        assert index.segment_count <= 2 * int(np.log2(len(live) + 1)) + 2
        assert as_set(index.query(queries, 31)) == brute_force(ids, bank, queries, 31)
    stored_ids, stored = index.items()
    assert np.array_equal(stored_ids, ids) and np.array_equal(stored, bank)


def test_removed_id_stops_matching_and_can_be_added_again():
    rng = np.random.default_rng(9)
    bank = random_hashes(rng, 50)
    index = PDQIndex(min_table_rows=0)
    index.add(np.arange(50), bank)
    assert set(index.query(bank[7:8], 0).ids.tolist()) == {7}
    assert index.remove(np.array([7, 7])) == 1
    assert index.remove(np.array([7])) == 0
    assert len(index.query(bank[7:8], 0)) == 0
    assert not index.contains(np.array([7]))[0]
    index.add(np.array([7]), bank[8:9])  # same id, another hash
    assert set(index.query(bank[8:9], 0).ids.tolist()) == {7, 8}
    index.compact()
    assert index.segment_count == 1 and len(index) == 50


def test_add_rejects_known_and_repeated_ids_and_bad_arrays():
    index = PDQIndex()
    hashes = random_hashes(np.random.default_rng(1), 3)
    index.add(np.array([1, 2, 3]), hashes)
    with pytest.raises(Conflict):
        index.add(np.array([3, 4]), hashes[:2])
    with pytest.raises(InvalidInput):
        index.add(np.array([5, 5]), hashes[:2])
    with pytest.raises(InvalidInput):
        index.add(np.array([6]), hashes[:2])
    with pytest.raises(InvalidInput):
        index.add(np.array([6]), hashes[:1].astype(np.int64))
    for bad in (-1, 257, 3.0, True):
        with pytest.raises(InvalidInput):
            index.query(hashes, bad)
    assert len(index) == 3


# -- dihedral queries --------------------------------------------------------


def test_query_dihedral_takes_best_distance_per_id():
    rng = np.random.default_rng(21)
    ids, bank, _ = bank_and_queries(21, 120, 2)
    index = PDQIndex(min_table_rows=0)
    index.add(ids, bank)
    # 6 queries x 8 variants; several variants of a query are near the same row
    variants = random_hashes(rng, 48).reshape(6, 8, 4)
    for q in range(6):
        rows = rng.integers(0, len(bank), size=3)
        for v in range(0, 8, 2):
            variants[q, v] = flip_bits(rng, bank[rows[v % 3] : rows[v % 3] + 1], int(rng.integers(0, 40)))[0]
    t = 31
    dist = np.bitwise_count(variants[:, :, None, :] ^ bank[None, None, :, :]).sum(axis=3)
    best = dist.min(axis=1)  # (Q, N)
    q, row = np.nonzero(best <= t)
    expected = {(int(a), int(ids[b]), int(best[a, b])) for a, b in zip(q, row)}
    got = index.query_dihedral(variants, t)
    assert as_set(got) == expected
    assert len(set(zip(got.query_rows.tolist(), got.ids.tolist()))) == len(got)  # one entry per id
    assert got.n_queries == 6


# -- snapshots ---------------------------------------------------------------


def saved(tmp_path: Path, n: int = 500) -> tuple[Path, PDQIndex, np.ndarray]:
    ids, bank, queries = bank_and_queries(13, n, 20)
    index = PDQIndex()
    index.add(ids, bank)
    index.remove(ids[:10])
    path = tmp_path / "bank.pdqidx"
    index.save(path)
    return path, index, queries


def test_snapshot_round_trip(tmp_path):
    path, index, queries = saved(tmp_path)
    loaded = PDQIndex.load(path)
    assert len(loaded) == len(index) == 490
    for a, b in zip(loaded.items(), index.items()):
        assert np.array_equal(a, b)
    assert as_set(loaded.query(queries, 31)) == as_set(index.query(queries, 31))
    assert path.stat().st_size == 64 + 8 + 32 + 40 * 490  # one segment, too small for tables
    assert path.read_bytes()[:8] == b"TPDQIX\r\n"


def test_empty_index_round_trip(tmp_path):
    PDQIndex().save(tmp_path / "empty")
    loaded = PDQIndex.load(tmp_path / "empty")
    assert len(loaded) == 0 and len(loaded.query(np.zeros((1, 4), np.uint64), 256)) == 0


def _rewrite_header(data: bytes, **fields) -> bytes:
    head = bytearray(data[:36])
    for offset, fmt, value in fields.values():
        struct.pack_into(fmt, head, offset, value)
    return bytes(head) + struct.pack("<I", zlib.crc32(bytes(head))) + data[40:]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:30], "truncated"),
        (lambda d: d[:-5], "truncated"),
        (lambda d: d + b"\0", "trailing"),
        (lambda d: b"XXXXXXXX" + d[8:], "magic"),
        (lambda d: _rewrite_header(d, version=(8, "<I", 4)), "version 4"),
        (lambda d: d[:16] + b"\xff" + d[17:], "checksum"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "checksum"),
        (lambda d: _rewrite_header(d, count=(16, "<Q", 10**6)), "segment rows"),
        (lambda d: b"", "truncated"),
    ],
)
def test_damaged_snapshot_raises_storage_error(tmp_path, damage, message):
    path, _, _ = saved(tmp_path, 50)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StorageError, match=message):
        PDQIndex.load(path)


def test_missing_snapshot_raises_storage_error(tmp_path):
    with pytest.raises(StorageError):
        PDQIndex.load(tmp_path / "nope")


# -- codec and reference lists -----------------------------------------------


def test_hex_round_trip_and_byte_layout():
    text = "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95"
    words = hashes_from_hex([text, text.upper()])
    assert words[0, 0] == 0xF162EB9DAAB170C0
    assert hashes_to_hex(words) == [text, text]
    as_bytes = np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(1, 32)
    assert hashes_to_hex(as_bytes) == [text]
    with pytest.raises(InvalidInput):
        hashes_from_hex(["zz" * 32])
    with pytest.raises(InvalidInput):
        hashes_from_hex(["abc"])


def test_reference_needles_in_haystack(reference_dir):
    pdq = reference_dir / "pdq"
    haystack = hashes_from_hex((pdq / "haystack.txt").read_text().split())
    needles = hashes_from_hex((pdq / "needles.txt").read_text().split())
    ids = np.arange(len(haystack), dtype=np.int64) * 10
    index = PDQIndex(min_table_rows=256)  # the 1,350 rows get probe tables
    index.add(ids, haystack)
    expected = brute_force(ids, haystack, needles, 31)
    assert len(expected) > len(needles)  # the lists are built to match
    assert as_set(index.query(needles, 31)) == expected
    assert as_set(index.query(needles[:, ::-1].copy(), 31)) == brute_force(ids, haystack, needles[:, ::-1], 31)


def _big_saved(tmp_path: Path) -> tuple[Path, PDQIndex, np.ndarray]:
    ids, bank, queries = bank_and_queries(17, BIG, 40)
    index = PDQIndex()
    index.add(ids, bank)
    path = tmp_path / "big.pdqidx"
    index.save(path)
    return path, index, queries


BIG = 40_000  # rows: enough for probe tables


def _table_offsets() -> tuple[int, int]:
    """(offset, size) of the big snapshot's highs, then lows are right after."""
    from tahaluf.index.pdq_plan import table_shape
    from tahaluf.index.snapshot import high_words, low_words

    highs = 64 + 8 + 32 + 40 * BIG
    shape = table_shape(BIG)
    return highs, 8 * 11 * high_words(BIG, shape.key_bits, shape.slots), 8 * low_words(BIG, shape.low_bits)


@pytest.mark.parametrize("mmap", [False, True])
def test_snapshot_with_tables_round_trip(tmp_path, mmap):
    path, index, queries = _big_saved(tmp_path)
    start, highs, lows = _table_offsets()
    assert path.stat().st_size == start + highs + lows  # version 3: tables included
    assert struct.unpack_from("<I", path.read_bytes(), 8)[0] == 3
    loaded = PDQIndex.load(path, mmap=mmap)
    for t in (0, 31, 64):
        assert as_set(loaded.query(queries, t)) == as_set(index.query(queries, t))
        assert as_set(loaded.query(queries, t, use_tables=True)) == as_set(index.query(queries, t, use_tables=False))
    # a mapped index still takes removals and additions (privately)
    ids, _ = index.items()
    loaded.remove(ids[:100])
    index.remove(ids[:100])
    extra_ids, extra, _ = bank_and_queries(18, 300, 1)
    loaded.add(extra_ids + 10**9, extra)
    index.add(extra_ids + 10**9, extra)
    assert as_set(loaded.query(queries, 31)) == as_set(index.query(queries, 31))
    assert len(loaded) == len(index)


def test_mapped_snapshots_share_the_file(tmp_path):
    path, _, _ = _big_saved(tmp_path)
    loaded = PDQIndex.load(path, mmap=True)
    seg = loaded._segments[0]
    assert isinstance(seg.hashes, np.memmap) and isinstance(seg.lows, np.memmap) and isinstance(seg.highs, np.memmap)
    assert not seg.hashes.flags.writeable


def test_inconsistent_tables_are_refused(tmp_path):
    path, _, _ = _big_saved(tmp_path)
    data = bytearray(path.read_bytes())
    start, highs, _ = _table_offsets()
    struct.pack_into("<Q", data, start + highs, 2**64 - 1)  # row numbers past the last row
    head = bytearray(data[:36])
    payload_crc = zlib.crc32(bytes(data[64:]))
    struct.pack_into("<I", head, 32, payload_crc)
    data[:40] = bytes(head) + struct.pack("<I", zlib.crc32(bytes(head)))
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="probe tables inconsistent"):
        PDQIndex.load(path)


# -- compact layout: ids, memory, older snapshots --------------------------------


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=300, unique=True),
    probes=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50),
    spread=st.sampled_from([2**8, 2**20, 2**40, 2**64]),
)
def test_packed_ids_decode_take_and_find(ids, probes, spread):
    from tahaluf.index.pdq_segment import make_ids

    ids = sorted({i % spread - spread // 2 for i in ids})
    values = np.array(ids, dtype=np.int64)
    packed = make_ids(values)  # packed unless spread over more than 2**62
    assert np.array_equal(packed.decode(), values)
    rows = np.arange(len(values))[::-1].copy()
    assert np.array_equal(packed.take(rows), values[rows])
    keys = np.array(list(values[::3]) + probes, dtype=np.int64)
    expected = np.array([int(np.searchsorted(values, k)) if k in set(ids) else -1 for k in keys.tolist()])
    assert np.array_equal(packed.find(keys), expected)


def test_dense_ids_cost_about_two_bits():
    from tahaluf.index.pdq_segment import PackedIds

    dense = PackedIds(np.arange(100_000, dtype=np.int64) * 16 + 7)  # the engine's item * 16 + slot
    assert dense.nbytes / 100_000 < 1.0  # bytes per id, versus 8 for int64


@pytest.mark.parametrize("rows, slot_bits", [(150_000, 20), (150_000, 16)])
def test_memory_per_hash_stays_under_64_bytes(rows, slot_bits):
    rng = np.random.default_rng(rows)
    bank = random_hashes(rng, rows)
    segment = Segment(np.arange(rows, dtype=np.int64) * 16, bank, slot_bits=slot_bits)
    assert segment.has_tables
    per_hash = segment.nbytes() / rows
    assert 32 < per_hash < 64, per_hash
    queries = flip_bits(rng, bank[:20], 20)
    expected = brute_force(np.arange(rows) * 16, bank, queries, 31)
    q, r, d = segment.query(queries, 31, use_tables=True)
    assert {(int(a), int(b) * 16, int(c)) for a, b, c in zip(q, r, d)} == expected


def test_version_1_snapshot_of_an_earlier_build_is_read(tmp_path):
    rng = np.random.default_rng(4)
    bank = random_hashes(rng, 300)
    ids = np.arange(300, dtype=np.int64) * 3
    payload = ids.astype("<i8").tobytes() + bank.astype("<u8").tobytes()
    head = struct.pack("<8sIIQIII", b"TPDQIX\r\n", 1, 64, 300, 4, 0, zlib.crc32(payload))
    header = head + struct.pack("<I", zlib.crc32(head))
    path = tmp_path / "old.pdqidx"
    path.write_bytes(header + bytes(64 - len(header)) + payload)
    loaded = PDQIndex.load(path, min_table_rows=0)
    assert loaded._segments[0].has_tables  # rebuilt in this build's layout
    queries = flip_bits(rng, bank[:10], 9)
    assert as_set(loaded.query(queries, 31)) == brute_force(ids, bank, queries, 31)
