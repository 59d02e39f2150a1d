"""Bank domain: validation, batch imports (pytx, JSONL), export round trip."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tahaluf import banks
from tahaluf.formats.jsonl import export_jsonl, import_jsonl
from tahaluf.formats.pytx import import_pytx
from tahaluf.banks import NewItem, Provenance
from tahaluf.errors import Conflict, InvalidInput, NotFound
from tahaluf.labels import load_vocabulary
from tahaluf.signals.base import Signal
from tahaluf.signals.text import text_signal
from tahaluf.storage import Store, open_store

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "d8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'one.db'}") as s:
        yield s


def test_create_bank_validates_input(sqlite_store: Store) -> None:
    bank = banks.create_bank(sqlite_store, "demo", "allow", {"entity": "demo-entity", "behaviours": "symbols"})
    assert (bank.kind, bank.default_labels) == ("allow", {"entity": "demo-entity", "behaviours": ["symbols"]})
    assert bank.pdq_max_distance == 31 and "pdq" in bank.signal_types
    with pytest.raises(Conflict):
        banks.create_bank(sqlite_store, "demo")
    with pytest.raises(InvalidInput, match="kind"):
        banks.create_bank(sqlite_store, "other", "maybe")
    with pytest.raises(InvalidInput, match="bank name"):
        banks.create_bank(sqlite_store, "has space")
    with pytest.raises(InvalidInput, match="tier"):
        banks.create_bank(sqlite_store, "other", labels={"tier": "mild"})
    with pytest.raises(InvalidInput, match="unknown label"):
        banks.create_bank(sqlite_store, "other", labels={"colour": "red"})
    assert [b.name for b in banks.list_banks(sqlite_store)] == ["demo"]


def test_get_and_delete_missing_bank_raise_not_found(sqlite_store: Store) -> None:
    with pytest.raises(NotFound, match="no bank named 'ghost'"):
        banks.get_bank(sqlite_store, "ghost")
    with pytest.raises(NotFound):
        banks.delete_bank(sqlite_store, "ghost")


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        (Signal("pdq", "abc"), "expected 64 hex"),
        (Signal("pdq", "z" * 64), "expected 64 hex"),
        (Signal("md5", "a" * 31), "expected 32 hex"),
        (Signal("sha256", "a" * 32), "expected 64 hex"),
        (Signal("url", "https://example.org/"), "expected 64 hex"),
        (Signal("text", "  "), "empty text"),
        (Signal("gif", "a" * 32), "unknown signal type"),
        (Signal("pdq", PDQ_A, {"quality": 300}), "quality"),
    ],
)
def test_validate_signal_rejects_bad_values(signal: Signal, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        banks.validate_signal(signal)


def test_validate_signal_normalises_hex_and_keeps_pdq_bytes() -> None:
    row = banks.validate_signal(Signal("pdq", " " + PDQ_A.upper() + "\n", {"quality": 88}))
    assert row.value == PDQ_A and row.pdq == bytes.fromhex(PDQ_A) and row.extra == {"quality": 88}
    frames = '["' + PDQ_A + ',100,0.0"]'
    assert banks.validate_signal(Signal("vpdq", frames)).value == frames
    with pytest.raises(InvalidInput, match="vPDQ value is not JSON"):
        banks.validate_signal(Signal("vpdq", "opaque frames"))
    with pytest.raises(InvalidInput, match="at least one frame"):
        banks.validate_signal(Signal("vpdq", "[]"))
    with pytest.raises(InvalidInput, match="text signal value"):
        banks.validate_signal(Signal("text", "t1:***"))


def test_a_raw_post_is_stored_as_its_text_sketch() -> None:
    from tahaluf.signals.text import text_signal

    post = "The weekly market opens early on Saturday near the old library."
    assert banks.validate_signal(Signal("text", post)).value == text_signal(post).value


def test_add_items_reports_bad_items_and_keeps_good_ones(store: Store) -> None:
    banks.create_bank(store, "demo", labels={"entity": "demo-entity"})
    items = [
        NewItem("good-1", [Signal("pdq", PDQ_A)], {"tier": "promotional"}),
        NewItem("bad-hash", [Signal("pdq", "123")]),
        NewItem("bad-label", [Signal("md5", MD5_A)], {"tier": "unknown-tier"}),
        NewItem("no-signals", []),
        NewItem("good-2", [Signal("md5", MD5_A)], provenance=Provenance("analyst", "upload.zip")),
    ]
    report = banks.add_items(store, "demo", items, added_by="curator", chunk_size=2)
    assert (report.imported, report.duplicates, report.error_count) == (2, 0, 3)
    assert [(e.line, e.external_id) for e in report.errors] == [(2, "bad-hash"), (3, "bad-label"), (4, "no-signals")]
    again = banks.add_items(store, "demo", items[:1])
    assert (again.imported, again.duplicates) == (0, 1)
    good2 = store.get_item(banks.get_bank(store, "demo").id, "good-2")
    assert good2 is not None and (good2.added_by, good2.source) == ("analyst", "upload.zip")
    info = banks.item_info(store, [s.item_id for s in banks.iter_signals(store, "pdq")])
    (only,) = info.values()
    assert only.external_id == "good-1"
    assert only.labels == {"entity": "demo-entity", "tier": "promotional"}


def test_disabled_items_leave_the_index_stream(store: Store) -> None:
    banks.create_bank(store, "demo")
    banks.add_items(store, "demo", [NewItem("a", [Signal("pdq", PDQ_A)]), NewItem("b", [Signal("pdq", PDQ_B)])])
    assert banks.set_item_enabled(store, "demo", "a", False) is True
    assert [s.value for s in banks.iter_signals(store, "pdq")] == [PDQ_B]
    with pytest.raises(NotFound, match="has no item 'zzz'"):
        banks.set_item_enabled(store, "demo", "zzz", True)


PYTX_FILE = f"""\
pdq {PDQ_A}
# a comment, then a blank line

pdq {PDQ_B} POSITIVE_CLASS tag1,tag2
video_md5 {MD5_A}
pdq 1234
pdq {"g" * 64}
gif {MD5_A}
raw_text the weather in Tunis is sunny today
pdq {PDQ_A}
"""


def test_import_pytx_imports_valid_lines_and_names_bad_ones(store: Store) -> None:
    banks.create_bank(store, "hashes")
    progress: list[int] = []
    report = import_pytx(store, "hashes", PYTX_FILE.splitlines(True), chunk_size=2, progress=progress.append)
    assert (report.imported, report.duplicates, report.error_count) == (4, 1, 3)
    assert [e.line for e in report.errors] == [6, 7, 8]
    assert "line 6" in report.errors[0].message and "64 hex" in report.errors[0].message
    assert "not a signal type" in report.errors[2].message and "--signal-type" in report.errors[2].message
    assert progress and progress[-1] == 10
    stored = {(s.signal_type, s.value) for t in ("pdq", "md5") for s in banks.iter_signals(store, t)}
    assert stored == {("pdq", PDQ_A), ("pdq", PDQ_B), ("md5", MD5_A)}
    assert [s.value for s in banks.iter_signals(store, "text")] == [
        text_signal("the weather in Tunis is sunny today").value]  # raw_text: the post's sketch
    assert report.summary() == "imported 4, skipped 1 duplicates, 3 errors (lines 6, 7, 8)"
    rerun = import_pytx(store, "hashes", PYTX_FILE.splitlines(True))
    assert (rerun.imported, rerun.duplicates) == (0, 5)


def test_import_pytx_default_type(sqlite_store: Store) -> None:
    banks.create_bank(sqlite_store, "hashes")
    report = import_pytx(sqlite_store, "hashes", [PDQ_A + "\n"], default_type="pdq")
    assert report.imported == 1


def test_import_jsonl_reports_malformed_lines(sqlite_store: Store) -> None:
    banks.create_bank(sqlite_store, "posts")
    lines = [
        json.dumps({"external_id": "p1", "signals": [{"type": "md5", "value": MD5_A}], "labels": {"language": "fr"}}),
        "{not json",
        json.dumps({"external_id": "p2", "signals": "pdq"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "p3", "signals": [{"type": "pdq", "value": PDQ_A, "quality": 70}]}),
    ]
    report = import_jsonl(sqlite_store, "posts", lines)
    assert report.imported == 2
    assert [e.line for e in report.errors] == [2, 3, 4]
    assert "malformed JSON" in report.errors[0].message


def test_export_then_import_is_lossless(store: Store) -> None:
    banks.create_bank(store, "src", labels={"entity": "demo-entity"})
    added = datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    banks.add_items(
        store,
        "src",
        [
            NewItem("photo/1.jpg", [Signal("pdq", PDQ_A, {"quality": 95}), Signal("md5", MD5_A)],
                    {"tier": "crisis", "behaviours": ["symbols"], "tags": ["poster"], "language": "ar"},
                    Provenance("analyst", "upload.zip", added)),
            NewItem("posts/2", [Signal("text", "v1:opaque sketch of a cooking recipe")], enabled=False),
        ],
    )
    exported = list(export_jsonl(store, "src"))
    banks.create_bank(store, "copy")
    report = import_jsonl(store, "copy", exported)
    assert (report.imported, report.error_count) == (2, 0)
    copied = [json.loads(line) for line in export_jsonl(store, "copy")][1:]  # after the bank header
    original = [json.loads(line) for line in exported][1:]
    for obj in original + copied:
        obj.pop("bank")
    assert copied == original
    assert original[0]["provenance"] == {"added_by": "analyst", "source": "upload.zip", "added_at": added.isoformat()}
    assert original[1]["enabled"] is False


hex_pdq = st.binary(min_size=32, max_size=32).map(bytes.hex)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hashes=st.lists(hex_pdq, min_size=0, max_size=30), chunk=st.integers(1, 8))
def test_pytx_import_stores_each_distinct_hash_once(tmp_path: Path, hashes: list[str], chunk: int) -> None:
    with open_store(f"sqlite:///{tmp_path / (uuid.uuid4().hex + '.db')}") as s:
        banks.create_bank(s, "h")
        lines = [f"pdq {h}\n" for h in hashes + hashes[: len(hashes) // 2]]
        report = import_pytx(s, "h", lines, chunk_size=chunk)
        assert report.imported == len(set(hashes))
        assert report.duplicates == len(lines) - len(set(hashes))
        assert sorted(x.value for x in banks.iter_signals(s, "pdq")) == sorted(set(hashes))


def test_label_vocabulary_is_configuration(tmp_path: Path, sqlite_store: Store) -> None:
    custom = tmp_path / "labels.toml"
    custom.write_text('[tier]\nallowed = ["high", "low"]\n[entity]\nallowed = ["demo-entity"]\n')
    vocab = load_vocabulary(custom)
    bank = banks.create_bank(sqlite_store, "custom", labels={"tier": "high"}, vocabulary=vocab)
    assert bank.default_labels == {"tier": "high"}
    with pytest.raises(InvalidInput, match="tier='crisis' is not in the vocabulary"):
        vocab.validate({"tier": "crisis"})
    with pytest.raises(InvalidInput, match="entity"):
        vocab.validate({"entity": "someone-else"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[colour]\nallowed = []\n")
    with pytest.raises(InvalidInput, match="unknown label section"):
        load_vocabulary(bad)


def test_a_full_database_gives_a_clear_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    """SQLite's max_page_count makes the file 'full' exactly as a full disk would."""
    from sqlalchemy import event

    from tahaluf.errors import StorageError

    store = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    banks.create_bank(store, "full", "known")
    engine = store._engine  # the test reaches into the store to cap the file size

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.execute("PRAGMA max_page_count = 300")  # ~1.2 MB with 4 KiB pages

    engine.dispose()  # new connections get the cap
    lines = [f"pdq {i:064x}" for i in range(1, 60_001)]
    with pytest.raises(StorageError, match="disk full"):
        import_pytx(store, "full", lines, chunk_size=1000)
    kept = banks.bank_stats(store, "full")
    assert 0 < kept["items"] < 60_000  # the chunks committed before the error are still there
    store.close()
