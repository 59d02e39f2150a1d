"""vPDQ index: the same answers as python-threatexchange's brute-force matcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refdata import REFERENCE, needs_full

from tahaluf.errors import Conflict, InvalidInput, NotFound
from tahaluf.index.vpdq import (
    VPDQIndex,
    VPDQMatch,
    arrays_from_frames,
    frame_pairs_within,
    frames_from_value,
)

EXPECTED = REFERENCE / "vpdq" / "expected"


# ------------------------------------------------------------------ the oracle
# python-threatexchange 1.x, threatexchange/extensions/vpdq/vpdq_brute_matcher.py
# (match_VPDQ_in_another, match_VPDQ_hash_brute) and vpdq_util.py (dedupe,
# quality_filter), copied because importing them needs the `vpdq` C++ binding,
# which does not build here (no FFmpeg development libraries). Features are
# (pdq_hex, quality) tuples instead of VpdqCompactFeature; logic unchanged.


def simple_distance(hex1: str, hex2: str) -> int:
    # pdq_utils.simple_distance compares bit strings; XOR popcount gives the same count
    return bin(int(hex1, 16) ^ int(hex2, 16)).count("1")


def dedupe(features):
    unique_features = set()
    ret = []
    for h in features:
        if h[0] not in unique_features:
            ret.append(h)
            unique_features.add(h[0])
    return ret


def quality_filter(features, quality_tolerance):
    return [f for f in features if f[1] >= quality_tolerance]


def match_VPDQ_in_another(hash1, hash2, distance_tolerance):
    return sum(
        any(simple_distance(h1[0], h2[0]) <= distance_tolerance for h2 in hash2) for h1 in hash1
    )


def match_VPDQ_hash_brute(query_hash, compared_hash, quality_tolerance, distance_tolerance):
    filtered_query = quality_filter(dedupe(query_hash), quality_tolerance)
    filtered_compared = quality_filter(dedupe(compared_hash), quality_tolerance)
    query_match_cnt = match_VPDQ_in_another(filtered_query, filtered_compared, distance_tolerance)
    compared_match_cnt = match_VPDQ_in_another(
        filtered_compared, filtered_query, distance_tolerance
    )
    return (
        query_match_cnt * 100 / len(filtered_query),
        compared_match_cnt * 100 / len(filtered_compared),
    )


# end of the copy


def oracle_matches(query, bank, *, max_distance=31, quality=50, query_pct=80.0, index_pct=0.0):
    """The reference rule applied to every bank video, as (item_id, q%, i%) best first.

    Where the reference divides by zero (nothing left after filtering) there is no match.
    """
    if not quality_filter(dedupe(query), quality):
        return []
    found = []
    for item_id, video in bank.items():
        if not quality_filter(dedupe(video), quality):
            continue
        q, i = match_VPDQ_hash_brute(query, video, quality, max_distance)
        if q >= query_pct and i >= index_pct:
            found.append((item_id, q, i))
    return sorted(found, key=lambda m: (-m[1], -m[2], m[0]))


def fast_oracle_pcts(query, video, *, max_distance=31, quality=50):
    """The same rule with a full numpy distance matrix (for the long reference videos)."""
    return fast_oracle_pcts_filtered(
        filtered(query, quality), filtered(video, quality), max_distance
    )


def filtered(features, quality):
    return as_arrays(quality_filter(dedupe(features), quality))[0]


def fast_oracle_pcts_filtered(q, v, max_distance):
    dist = np.bitwise_count(q[:, None, :] ^ v[None, :, :]).astype(int).sum(axis=2)
    near = dist <= max_distance
    return int(near.any(axis=1).sum()) * 100 / len(q), int(near.any(axis=0).sum()) * 100 / len(v)


def as_arrays(features):
    pdq = np.array(
        [[int(h[i : i + 16], 16) for i in range(0, 64, 16)] for h, _ in features], dtype=np.uint64
    ).reshape(len(features), 4)
    return pdq, np.array([q for _, q in features], dtype=np.uint8)


def run_query(index, features, **kwargs):
    matches = index.query(*as_arrays(features), **kwargs)
    return [(m.item_id, m.query_match_pct, m.index_match_pct) for m in matches]


def random_hex(rng: np.random.Generator) -> str:
    return rng.bytes(32).hex()


def flip_bits(pdq_hex: str, n_bits: int, rng: np.random.Generator) -> str:
    value = int(pdq_hex, 16)
    for bit in rng.choice(256, size=n_bits, replace=False):
        value ^= 1 << int(bit)
    return f"{value:064x}"


# ------------------------------------------------------------------ property tests

frame_spec = st.tuples(
    st.integers(0, 7),  # which base hash of the pool
    st.sampled_from([0, 0, 0, 2, 8, 25, 31, 32, 40, 128]),  # bits flipped: planted near-duplicates
    st.sampled_from([0, 10, 49, 50, 51, 90, 100]),  # quality, dense around the threshold
)
video_spec = st.lists(frame_spec, min_size=1, max_size=10)


def build_video(spec, pool, rng):
    return [
        (flip_bits(pool[base], flips, rng) if flips else pool[base], q) for base, flips, q in spec
    ]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bank_specs=st.lists(video_spec, min_size=1, max_size=6),
    query_spec=video_spec,
    removed=st.sets(st.integers(0, 5), max_size=4),
    compact=st.booleans(),
    max_distance=st.sampled_from([0, 8, 31, 31, 40, 64, 130, 256]),
    quality=st.sampled_from([0, 50, 50, 90, 101]),
    query_pct=st.sampled_from([0.0, 50.0, 80.0, 80.0, 100.0]),
    index_pct=st.sampled_from([0.0, 0.0, 30.0, 100.0]),
)
def test_index_equals_reference_brute_force(
    seed, bank_specs, query_spec, removed, compact, max_distance, quality, query_pct, index_pct
):
    rng = np.random.default_rng(seed)
    pool = [random_hex(rng) for _ in range(8)]
    bank = {100 + n: build_video(spec, pool, rng) for n, spec in enumerate(bank_specs)}
    query = build_video(query_spec, pool, rng)
    index = VPDQIndex()
    for item_id, video in bank.items():
        index.add(item_id, as_arrays(video))
    for n in removed:
        if 100 + n in bank:
            index.remove(100 + n)
            del bank[100 + n]
    if compact:
        index.compact()
    expected = oracle_matches(
        query, bank, max_distance=max_distance, quality=quality,
        query_pct=query_pct, index_pct=index_pct,
    )
    got = run_query(
        index, query, max_distance=max_distance, quality_threshold=quality,
        query_match_pct=query_pct, index_match_pct=index_pct,
    )
    assert got == expected
    for item_id, video in bank.items():  # the numpy oracle used on reference data agrees too
        if quality_filter(dedupe(query), quality) and quality_filter(dedupe(video), quality):
            assert fast_oracle_pcts(query, video, max_distance=max_distance, quality=quality) == (
                match_VPDQ_hash_brute(query, video, quality, max_distance)
            )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_query=st.integers(0, 40),
    n_bank=st.integers(0, 300),
    max_distance=st.integers(0, 256),
)
def test_frame_pairs_equal_full_distance_matrix(seed, n_query, n_bank, max_distance):
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, 2**64, size=(n_bank, 4), dtype=np.uint64)
    base = bank[rng.integers(0, n_bank, n_query)] if n_bank else bank[:0].repeat(0, axis=0)
    queries = rng.integers(0, 2**64, size=(n_query, 4), dtype=np.uint64)
    if n_bank:  # half the queries are near copies of bank rows
        flips = rng.integers(0, 2**64, size=(n_query, 4), dtype=np.uint64)
        flips &= np.uint64(0x0101010101010101)
        queries[: n_query // 2] = (base ^ flips)[: n_query // 2]
    dist = np.bitwise_count(queries[:, None, :] ^ bank[None, :, :]).astype(int).sum(axis=2)
    exp_q, exp_b = np.nonzero(dist <= max_distance)
    got_q, got_b = frame_pairs_within(queries, np.ascontiguousarray(bank.T), max_distance)
    got = sorted(zip(got_q.tolist(), got_b.tolist()))
    assert got == sorted(zip(exp_q.tolist(), exp_b.tolist()))


# ------------------------------------------------------------------ behaviour a user checks


def distinct_frames(n, seed, quality=90):
    rng = np.random.default_rng(seed)
    return [(random_hex(rng), quality) for _ in range(n)]


def test_a_video_matches_itself_fully():
    video = distinct_frames(30, seed=1)
    index = VPDQIndex()
    index.add(7, as_arrays(video))
    index.add(8, as_arrays(distinct_frames(30, seed=2)))
    assert index.query(*as_arrays(video)) == [VPDQMatch(7, 100.0, 100.0)]


def test_half_the_frames_match_with_index_threshold_zero_only():
    video = distinct_frames(40, seed=3)
    rng = np.random.default_rng(4)
    clip = [(flip_bits(h, 6, rng), q) for h, q in video[::2]]  # every other frame, re-encoded
    index = VPDQIndex()
    index.add(1, as_arrays(video))
    assert index.query(*as_arrays(clip)) == [VPDQMatch(1, 100.0, 50.0)]
    assert index.query(*as_arrays(clip), index_match_pct=60.0) == []
    # the other way round, half the query is unmatched: below the 80% default
    index2 = VPDQIndex()
    index2.add(2, as_arrays(clip))
    assert index2.query(*as_arrays(video)) == []
    assert index2.query(*as_arrays(video), query_match_pct=50.0) == [VPDQMatch(2, 50.0, 100.0)]


def test_low_quality_frames_are_ignored():
    good = distinct_frames(10, seed=5, quality=80)
    poor = distinct_frames(10, seed=6, quality=20)
    index = VPDQIndex()
    index.add(1, as_arrays(good + poor))
    assert index.query(*as_arrays(good)) == [VPDQMatch(1, 100.0, 100.0)]
    assert index.query(*as_arrays(good), quality_threshold=0) == [VPDQMatch(1, 100.0, 50.0)]
    assert index.query(*as_arrays(poor)) == []  # no query frame is good enough
    assert index.query(*as_arrays(poor), quality_threshold=10) == [VPDQMatch(1, 100.0, 50.0)]


def test_duplicates_are_removed_before_the_quality_filter():
    frames = distinct_frames(4, seed=7)
    first_poor = [(frames[0][0], 10)] + frames  # same hash: first poor, then good
    index = VPDQIndex()
    index.add(1, as_arrays(first_poor))
    # the reference keeps the first (poor) copy and then drops it: 3 frames left
    assert run_query(index, frames) == oracle_matches(frames, {1: first_poor})
    assert index.query(*as_arrays(frames)) == []  # 75% of the query: below 80%
    assert index.query(*as_arrays(frames), query_match_pct=75.0) == [VPDQMatch(1, 75.0, 100.0)]


def test_remove_and_re_add():
    a, b = distinct_frames(20, seed=8), distinct_frames(20, seed=9)
    index = VPDQIndex()
    index.add(1, as_arrays(a))
    index.add(2, as_arrays(a + b))
    assert [m.item_id for m in index.query(*as_arrays(a))] == [1, 2]
    index.remove(1)
    assert 1 not in index and len(index) == 1
    assert index.query(*as_arrays(a)) == [VPDQMatch(2, 100.0, 50.0)]
    with pytest.raises(NotFound):
        index.remove(1)
    index.add(1, as_arrays(b))
    assert index.query(*as_arrays(b)) == [VPDQMatch(1, 100.0, 100.0), VPDQMatch(2, 100.0, 50.0)]
    with pytest.raises(Conflict):
        index.add(1, as_arrays(a))


def test_compaction_keeps_results_and_stores_each_hash_once():
    videos = {n: distinct_frames(10, seed=100 + n) for n in range(12)}
    index = VPDQIndex()
    for n, video in videos.items():
        index.add(n, as_arrays(video))
    index.add(12, as_arrays(videos[11]))  # a re-upload: identical frames
    videos[12] = videos[11]
    assert index.stored_hashes == 130
    index.compact()
    assert index.stored_hashes == 120  # the re-upload's frames are stored once
    for n in range(8):
        index.remove(n)
        del videos[n]
    assert index.stored_hashes < 120  # compacted by itself once a quarter of frames were dead
    for video in videos.values():
        assert run_query(index, video, index_match_pct=1.0) == oracle_matches(
            video, videos, index_pct=1.0
        )
    index.compact()
    assert index.stored_hashes == 40  # 4 videos left, one a re-upload
    for video in videos.values():
        assert run_query(index, video, index_match_pct=1.0) == oracle_matches(
            video, videos, index_pct=1.0
        )
    index.add(50, as_arrays(videos[9]))
    assert [m.item_id for m in index.query(*as_arrays(videos[9]))] == [9, 50]
    for n in (8, 9, 10, 11, 12, 50):
        index.remove(n)
    assert len(index) == 0 and index.stored_hashes == 0
    assert index.query(*as_arrays(videos[9])) == []


def test_bad_input_is_rejected():
    index = VPDQIndex()
    pdq, quality = as_arrays(distinct_frames(3, seed=10))
    with pytest.raises(InvalidInput):
        index.add(1, (pdq[:0], quality[:0]))
    with pytest.raises(InvalidInput):
        index.add(1, (pdq.astype(np.int64), quality))
    with pytest.raises(InvalidInput):
        index.add(1, (pdq, quality[:2]))
    with pytest.raises(InvalidInput):
        index.add(1, (pdq, np.array([1, 2, 101])))
    with pytest.raises(InvalidInput):
        index.add(2**63, (pdq, quality))
    with pytest.raises(InvalidInput):
        index.query(pdq, quality, max_distance=257)
    assert len(index) == 0


# ------------------------------------------------------------------ signal values


def test_frames_from_value_reads_the_video_signal_value():
    from tahaluf.signals.video import FrameHash, parse_vpdq, video_signal

    frames = parse_vpdq((EXPECTED / "doorknob-hd-no-bar.txt").read_text())
    pdq, quality = frames_from_value(video_signal(frames).value)
    expected_pdq, expected_quality = arrays_from_frames(frames)
    assert np.array_equal(pdq, expected_pdq) and np.array_equal(quality, expected_quality)
    assert len(pdq) == 120
    upper = FrameHash(0, 77, frames[0].pdq_hex.upper(), 0.0)
    assert np.array_equal(arrays_from_frames([upper])[0], expected_pdq[:1])


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '{"a": 1}',
        '["abc,50,0.0"]',
        '["' + "g" * 64 + ',50,0.0"]',
        '["' + "a" * 64 + ',101,0.0"]',
        '["' + "a" * 64 + ',50,-1"]',
        '["' + "a" * 64 + ',50"]',
        "[3]",
    ],
)
def test_frames_from_value_rejects_malformed_values(value):
    with pytest.raises(InvalidInput):
        frames_from_value(value)


# ------------------------------------------------------------------ reference videos


def read_expected(path: Path):
    features = []
    for line in path.read_text().splitlines():
        if line.strip():
            _, quality, pdq_hex, _ = line.split(",")
            features.append((pdq_hex, int(quality)))
    return features


@needs_full  # the subset's two videos are unrelated: no edited copies to match
def test_reference_videos_match_as_the_reference_rule_says():
    paths = sorted(p for p in EXPECTED.glob("*.txt") if "128x128" not in p.name)
    assert len(paths) == 16
    videos = {n: read_expected(p) for n, p in enumerate(paths)}
    index = VPDQIndex()
    for n, video in videos.items():
        index.add(n, as_arrays(video))
    arrays = {n: filtered(video, 50) for n, video in videos.items()}
    n_matches = 0
    for n_query, video in videos.items():
        expected = []
        for n, other in arrays.items():
            q, i = fast_oracle_pcts_filtered(arrays[n_query], other, 31)
            if q >= 80.0:
                expected.append((n, q, i))
        expected.sort(key=lambda m: (-m[1], -m[2], m[0]))
        got = run_query(index, video)
        assert got == expected
        n_matches += len(got)
    assert n_matches > len(videos)  # edited copies match, not only each video itself
