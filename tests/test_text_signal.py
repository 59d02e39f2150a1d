"""The text signal: similarity, containment, serialisation, batch, limits."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahaluf.errors import ContentTooLarge, InvalidInput
from tahaluf.signals.text import (
    DEFAULT_MIN_CONTAINMENT,
    DEFAULT_MIN_SIMILARITY,
    TextSketch,
    containment,
    similarity,
    text_signal,
    text_signals,
    text_sketch,
    text_sketches,
)

from neutral_posts import OTHER_AR, OTHER_EN, POST_AR, POST_EN  # tests/ is on sys.path under pytest

words = st.text(alphabet=st.sampled_from(list("ابتثجحخدرسشصطعغفقكلمنهوي abcdefé")), min_size=5, max_size=80)
nonempty = words.filter(lambda t: any(c.isalpha() for c in t))


def test_signal_shape() -> None:
    sig = text_signal(POST_AR)
    assert sig.type == "text"
    assert sig.value.startswith("t1:")
    assert sig.extra["version"] == 1
    assert sig.extra["shingle_chars"] == 5
    assert sig.extra["shingles"] == len(TextSketch.from_value(sig.value))
    assert sig.to_json()["type"] == "text"


def test_truncated_repost_is_contained() -> None:
    known, short = text_sketch(POST_AR), text_sketch(POST_AR[: int(len(POST_AR) * 0.6)])
    assert containment(short, known) == 1.0
    assert containment(short, text_sketch(OTHER_AR)) < DEFAULT_MIN_CONTAINMENT


def test_quote_inside_longer_post_is_contained() -> None:
    longer = text_sketch(OTHER_EN + " As reported: " + POST_EN + " More later.")
    assert containment(text_sketch(POST_EN), longer) == 1.0
    assert similarity(text_sketch(POST_EN), longer) < 1.0


def test_word_substitution_stays_similar() -> None:
    edited = POST_EN.replace("twelve", "ten").replace("Monday", "Friday").replace("Police", "Officers")
    assert similarity(text_sketch(edited), text_sketch(POST_EN)) >= DEFAULT_MIN_SIMILARITY
    assert similarity(text_sketch(OTHER_EN), text_sketch(POST_EN)) < DEFAULT_MIN_SIMILARITY


def test_arabic_clitics_stay_similar() -> None:
    edited = POST_AR.replace("الطقس", "وطقس").replace("الحرارة", "فالحرارة").replace("الضباب", "بالضباب")
    assert similarity(text_sketch(edited), text_sketch(POST_AR)) >= DEFAULT_MIN_SIMILARITY


def test_empty_after_normalisation_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="empty after normalisation"):
        text_signal("  😀 ،،، https://example.org/x @demo_user ")
    with pytest.raises(InvalidInput):
        text_sketches([POST_EN, "..."])


def test_too_large() -> None:
    with pytest.raises(ContentTooLarge):
        text_signal("a" * 101, max_chars=100)
    assert text_signal("a" * 100, max_chars=100).extra["shingles"] == 1


def test_short_text_has_one_shingle() -> None:
    assert len(text_sketch("ok")) == 1
    assert text_sketch("ok") != text_sketch("no")


@pytest.mark.parametrize(
    "value",
    ["", "t2:AAAAAA", "x1:AAAAAA", "t1:", "t1:AAA", "t1:!!!!", "t1:" + base64.urlsafe_b64encode(
        np.array([5, 3], "<u4").tobytes()).decode().rstrip("=")],
)
def test_bad_values_are_rejected(value: str) -> None:
    with pytest.raises(InvalidInput):
        TextSketch.from_value(value)


def test_batch_equals_loop() -> None:
    texts = [POST_AR, POST_EN, "ok", OTHER_AR, OTHER_EN, POST_AR]
    assert text_sketches(texts) == [text_sketch(t) for t in texts]
    assert [s.value for s in text_signals(texts)] == [text_signal(t).value for t in texts]
    assert text_sketches([]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(nonempty, min_size=1, max_size=6))
def test_batch_equals_loop_property(texts: list[str]) -> None:
    assert text_sketches(texts) == [text_sketch(t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(nonempty)
def test_round_trip_and_self(text: str) -> None:
    sketch = text_sketch(text)
    value = sketch.to_value()
    assert TextSketch.from_value(value) == sketch
    assert TextSketch.from_value(value).to_value() == value
    assert containment(sketch, sketch) == 1.0
    assert similarity(sketch, sketch) == 1.0


@settings(max_examples=100, deadline=None)
@given(nonempty, nonempty)
def test_similarity_symmetric_and_bounded(a: str, b: str) -> None:
    sa, sb = text_sketch(a), text_sketch(b)
    s = similarity(sa, sb)
    assert s == similarity(sb, sa)
    assert 0.0 <= s <= 1.0
    assert 0.0 <= containment(sa, sb) <= 1.0
    # containment is at least the similarity, in both directions
    assert containment(sa, sb) >= s and containment(sb, sa) >= s


def test_deterministic_across_processes() -> None:
    code = (
        "from tahaluf.signals.text import text_signal;"
        f"print(text_signal({POST_AR!r}).value);print(text_signal({POST_EN!r}).value)"
    )
    outputs = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(run.stdout)
    assert outputs == {text_signal(POST_AR).value + "\n" + text_signal(POST_EN).value + "\n"}


M64 = (1 << 64) - 1


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    return h ^ (h >> 33)


def reference_sketch(normalised: str) -> list[int]:
    """The documented v1 hash, re-implemented with Python integers."""
    t = normalised.ljust(5)
    out = set()
    for i in range(len(t) - 4):
        h = 0
        for c in t[i : i + 5]:
            h = (h * 0x100000001B3 + ord(c)) & M64
        out.add(_fmix64(h ^ 0x7461686166756C31) >> 32)
    return sorted(out)


@pytest.mark.parametrize("text", ["hello", "ok", POST_AR, POST_EN])
def test_matches_documented_hash(text: str) -> None:
    from tahaluf.signals.normalize import normalize_text

    assert text_sketch(text).hashes.tolist() == reference_sketch(normalize_text(text))


def test_value_layout() -> None:
    sketch = text_sketch(POST_EN)
    raw = base64.urlsafe_b64decode(sketch.to_value()[3:] + "==")
    assert np.frombuffer(raw, "<u4").tolist() == reference_sketch("the council announced a new bus route starting on monday the old bridge will close for repairs for twelve days police advise using alternative routes during rush hour")
