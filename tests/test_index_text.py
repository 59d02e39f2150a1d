"""TextIndex: results equal brute force on neutral posts; add, remove, replace."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahaluf.errors import InvalidInput
from tahaluf.index import text as text_module
from tahaluf.index.text import TextIndex, TextMatch
from tahaluf.signals.text import (
    DEFAULT_MIN_CONTAINMENT,
    DEFAULT_MIN_SIMILARITY,
    MIN_CONTAINED_SHINGLES,
    TextSketch,
    containment,
    similarity,
    text_sketch,
    text_sketches,
)

from neutral_posts import OTHER_AR, OTHER_EN, POST_AR, POST_EN  # tests/ is on sys.path under pytest

CITIES = ["Leeds", "Lyon", "Dakar", "Perth", "Oran", "Sfax", "Tanta", "Irbid"]
THINGS = ["the bus timetable", "a lentil soup recipe", "the weekend forecast", "the league table",
          "tomato prices", "the new bridge", "a cycling lane", "the harbour ferry"]
AR_WORDS = ("الطقس المطر الشمس السوق الخبز الحافلة المدينة الملعب الفريق المباراة الأسبوع "
            "الصباح المساء الطريق الجسر القطار الميناء السعر الشاي القمح الحديقة المكتبة").split()


def _bank_texts() -> list[str]:
    return [
        f"News from {c}: residents discussed {t} at the town hall on day {i}, and the "
        f"meeting about {THINGS[(k + 3) % 8]} in {CITIES[(k + 5) % 8]} ended early."
        for k, (i, c, t) in enumerate(
            (i, c, t) for i in range(2) for c in CITIES for t in THINGS[:4]
        )
    ] + [POST_AR, POST_EN, OTHER_AR, OTHER_EN, "Leeds bus", "ok"]


def _vocabulary() -> list[str]:
    rng = random.Random(0)
    letters = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"
    made = {"".join(rng.choice(letters) for _ in range(rng.randrange(3, 6))) for _ in range(3_000)}
    return AR_WORDS + sorted(made)


VOCAB = _vocabulary()


def _ar_posts(count: int, seed: int) -> list[str]:
    """Posts of 8-40 words, a fifth of them from the 22 topic words."""
    rng = random.Random(seed)
    pick = lambda: rng.choice(AR_WORDS) if rng.random() < 0.2 else rng.choice(VOCAB)  # noqa: E731
    return [" ".join(pick() for _ in range(rng.randrange(8, 40))) for _ in range(count)]


def _brute(bank: dict[int, TextSketch], q: TextSketch) -> set[int]:
    return {
        i for i, s in bank.items()
        if similarity(q, s) >= DEFAULT_MIN_SIMILARITY
        or (containment(q, s) >= DEFAULT_MIN_CONTAINMENT and len(q) >= MIN_CONTAINED_SHINGLES)
        or (containment(s, q) >= DEFAULT_MIN_CONTAINMENT and len(s) >= MIN_CONTAINED_SHINGLES)
    }


def _check(index: TextIndex, bank: dict[int, TextSketch], q: TextSketch, exact: bool = True) -> tuple[int, int]:
    """Results are true matches with exact evidence, best first; equal to brute
    force when ``exact``. Returns (pairs found, pairs brute force finds)."""
    got = index.query(q)
    truth = _brute(bank, q)
    assert {m.item_id for m in got} <= truth
    if exact:
        assert {m.item_id for m in got} == truth
    for m in got:
        assert m.similarity == pytest.approx(similarity(q, bank[m.item_id]))
        assert m.query_in_item == pytest.approx(containment(q, bank[m.item_id]))
        assert m.item_in_query == pytest.approx(containment(bank[m.item_id], q))
    strength = [max(m.similarity, m.query_in_item, m.item_in_query) for m in got]
    assert strength == sorted(strength, reverse=True)
    return len(got), len(truth)


@pytest.mark.parametrize("bulk", [False, True])
def test_index_equals_brute_force(bulk: bool) -> None:
    texts = _bank_texts()
    bank = dict(enumerate(text_sketches(texts), start=100))
    index = TextIndex(compact_every=16)
    if bulk:
        index.add_many(list(bank), list(bank.values()))
    else:
        for item_id, sketch in bank.items():
            index.add(item_id, sketch)
    queries = texts + [t[: len(t) * 6 // 10] for t in texts] + [
        "Quoted today: " + POST_AR + " end of quote", POST_EN.replace("bridge", "tunnel"),
        "Leeds", "leeds  BUS!", "ok"]
    for text in queries:
        _check(index, bank, text_sketch(text))


def test_topic_words_do_not_match_but_edits_do() -> None:
    """Posts sharing 22 frequent topic words: only real copies match."""
    texts = _ar_posts(300, seed=4)
    bank = dict(enumerate(text_sketches(texts)))
    index = TextIndex()
    index.add_many(list(bank), list(bank.values()))
    rng = random.Random(9)
    found = total = 0
    for k in rng.sample(range(len(texts)), 40):
        text = texts[k]
        edits = [text[: len(text) * 6 // 10], "خبر اليوم: " + text + " انتهى الخبر", text + " #الطقس"]
        for edited in edits + _ar_posts(1, seed=1000 + k):
            got, truth = _check(index, bank, text_sketch(edited), exact=False)
            found, total = found + got, total + truth
        for edited in edits:
            assert k in {m.item_id for m in index.query(text_sketch(edited))}
    assert found >= 0.97 * total  # pairs made of topic words only may be missed


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(AR_WORDS + ["Leeds", "bus", "rain", "42"]), min_size=1, max_size=30),
       st.integers(0, 2**16))
def test_results_are_exact_and_self_is_found(words: list[str], seed: int) -> None:
    texts = _ar_posts(40, seed) + [" ".join(words)]
    bank = dict(enumerate(text_sketches(texts)))
    index = TextIndex(compact_every=8)
    for item_id, sketch in bank.items():
        index.add(item_id, sketch)
    q = bank[len(texts) - 1]
    _check(index, bank, q, exact=False)
    assert len(texts) - 1 in {m.item_id for m in index.query(q)}


def test_index_remove_and_replace() -> None:
    index = TextIndex(compact_every=2)
    index.add(1, text_sketch(POST_AR))
    index.add(2, text_sketch(POST_EN))
    index.add(3, text_sketch(OTHER_EN))
    assert [m.item_id for m in index.query(text_sketch(POST_AR))] == [1]
    assert index.remove(1) and not index.remove(1)
    assert index.query(text_sketch(POST_AR)) == []
    index.add(2, text_sketch(POST_AR))  # replace item 2's sketch
    assert [m.item_id for m in index.query(text_sketch(POST_AR))] == [2]
    assert index.query(text_sketch(POST_EN)) == []
    assert len(index) == 2 and 3 in index and 1 not in index


def test_many_removals_compact_and_stay_correct() -> None:
    texts = _ar_posts(2_600, seed=2)
    sketches = text_sketches(texts)
    index = TextIndex()
    index.add_many(list(range(len(texts))), sketches)
    for item_id in range(0, len(texts), 2):  # more than 1,000 removals: compaction
        assert index.remove(item_id)
    index.add_many([5_000, 5_001], [text_sketch(POST_AR), text_sketch(POST_EN)])
    bank = {i: s for i, s in enumerate(sketches) if i % 2}
    bank.update({5_000: text_sketch(POST_AR), 5_001: text_sketch(POST_EN)})
    assert len(index) == len(bank)
    for k in (1, 2, 3, 4, 777, 2_599):
        got = {m.item_id for m in index.query(sketches[k])}
        assert got <= set(bank) and (k in got) == (k % 2 == 1)
    _check(index, bank, text_sketch(POST_AR))


def test_add_after_bulk_and_matches_are_dataclasses() -> None:
    index = TextIndex()
    index.add_many([1, 2], [text_sketch(POST_AR), text_sketch(OTHER_AR)])
    index.add(3, text_sketch(POST_EN))
    got = index.query(text_sketch(POST_EN[:120]))
    assert got == [TextMatch(3, pytest.approx(similarity(text_sketch(POST_EN[:120]), text_sketch(POST_EN))),
                             1.0, pytest.approx(containment(text_sketch(POST_EN), text_sketch(POST_EN[:120]))))]


def test_bad_input() -> None:
    index = TextIndex()
    with pytest.raises(InvalidInput):
        index.add(1, "t1:AAAA")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        index.add_many([1, 1], [text_sketch(POST_AR), text_sketch(POST_EN)])
    with pytest.raises(InvalidInput):
        index.add_many([1], [])
    with pytest.raises(InvalidInput):
        index.query(POST_AR)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        TextIndex(max_verify=0)
    assert len(index) == 0 and index.query(text_sketch(POST_AR)) == []


def _edited(texts: list[str], rng: random.Random) -> list[str]:
    """Truncations, quotes, word swaps of some bank posts, and fresh posts."""
    out = []
    for k in rng.sample(range(len(texts)), 30):
        text = texts[k]
        words = text.split()
        words[rng.randrange(len(words))] = rng.choice(AR_WORDS)
        out += [text[: len(text) * 6 // 10], "خبر اليوم: " + text + " انتهى الخبر", " ".join(words)]
    return out + _ar_posts(20, seed=rng.randrange(10**6))


@pytest.mark.parametrize("compiled", [True, False])
def test_query_many_equals_query_and_brute_force(compiled: bool) -> None:
    texts = _ar_posts(400, seed=7)
    bank = dict(enumerate(text_sketches(texts)))
    index = TextIndex()
    index._use_kernels = compiled and text_module._kernels is not None
    index.add_many(list(bank), list(bank.values()))
    queries = text_sketches(_edited(texts, random.Random(3)))
    many = index.query_many(queries)
    assert len(many) == len(queries)
    assert many == [index.query(q) for q in queries]
    found = total = 0
    for q, got in zip(queries, many):
        truth = _brute(bank, q)
        assert {m.item_id for m in got} <= truth
        found, total = found + len(got), total + len(truth)
    assert total >= 90 and found >= 0.97 * total


def test_query_many_finds_edited_copies_in_big_batches() -> None:
    """More queries than one internal pass (512): order and sources kept."""
    texts = _ar_posts(300, seed=11)
    index = TextIndex()
    index.add_many(list(range(len(texts))), text_sketches(texts))
    sources = [k % len(texts) for k in range(600)]
    queries = text_sketches([texts[k][: len(texts[k]) * 7 // 10] if i % 2 else "خبر: " + texts[k]
                             for i, k in enumerate(sources)])
    many = index.query_many(queries)
    assert [k in {m.item_id for m in got} for k, got in zip(sources, many)] == [True] * 600
    assert many[:40] == [index.query(q) for q in queries[:40]]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 59), min_size=0, max_size=12), st.integers(0, 2**16),
       st.sampled_from([(0.4, 0.5), (0.2, 0.3), (0.8, 0.9)]))
def test_query_many_is_the_loop_of_query(picks: list[int], seed: int, thresholds: tuple[float, float]) -> None:
    """Fresh one-by-one items, bulk items, removals and thresholds: one answer."""
    rng = random.Random(seed)
    texts = _ar_posts(60, seed)
    sketches = text_sketches(texts)
    index = TextIndex(compact_every=10_000)
    index.add_many(list(range(40)), sketches[:40])
    for item_id in range(40, 60):  # stays in the fresh segment
        index.add(item_id, sketches[item_id])
    for item_id in rng.sample(range(60), 5):
        index.remove(item_id)
    queries = [text_sketch(texts[k][: max(5, len(texts[k]) * rng.randrange(3, 11) // 10)]) for k in picks]
    sim, cont = thresholds
    assert index.query_many(queries, sim, cont) == [index.query(q, sim, cont) for q in queries]


def test_query_many_bad_input() -> None:
    index = TextIndex()
    assert index.query_many([]) == []
    index.add(1, text_sketch(POST_EN))
    assert index.query_many([text_sketch(POST_EN), text_sketch(OTHER_AR)])[1] == []
    with pytest.raises(InvalidInput):
        index.query_many([text_sketch(POST_AR), POST_AR])  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        TextIndex(max_ranked=0)


def test_numba_kernels_are_available() -> None:
    """numba is a dependency: the compiled path must be the one in use."""
    assert text_module._kernels is not None and TextIndex()._use_kernels


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([(0.4, 0.5), (0.2, 0.3), (0.8, 0.9)]),
       st.sampled_from([dict(), dict(max_postings=40, max_verify=2, max_ranked=1, min_keys=4)]))
def test_compiled_and_numpy_paths_agree(seed: int, thresholds: tuple[float, float], params: dict) -> None:
    """Same lists from the numba kernels and the numpy fallback: bulk and fresh
    items, removals, tight budgets (ties at the verification cut-offs)."""
    rng = random.Random(seed)
    texts = _ar_posts(120, seed) + _bank_texts()
    sketches = text_sketches(texts)
    index = TextIndex(compact_every=10_000, **params)
    index.add_many(list(range(100)), sketches[:100])
    for item_id in range(100, len(texts)):
        index.add(item_id, sketches[item_id])
    for item_id in rng.sample(range(len(texts)), 10):
        index.remove(item_id)
    queries = text_sketches(_edited(texts[:120], rng)[:40])
    sim, cont = thresholds
    index._use_kernels = True
    compiled = index.query_many(queries, sim, cont)
    index._use_kernels = False
    assert index.query_many(queries, sim, cont) == compiled
    bank = {i: sketches[i] for i in range(len(texts)) if i in index}
    for q, got in zip(queries, compiled):
        assert {m.item_id for m in got} <= {i for i, s in bank.items() if similarity(q, s) >= sim
                                             or (containment(q, s) >= cont and len(q) >= MIN_CONTAINED_SHINGLES)
                                             or (containment(s, q) >= cont and len(s) >= MIN_CONTAINED_SHINGLES)}
