"""The signal-type registry: a type defined here, in the test, runs through hashing, a bank,
a scan, a JSONL export and import and an API lookup without a line changed elsewhere;
the API's type enum and the CLI's lookup choices are the registered types."""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubproc import READY_TIMEOUT_S
from typer.testing import CliRunner

from tahaluf import banks
from tahaluf.formats import jsonl
from tahaluf.api.app import create_app
from tahaluf.cli.main import app
from tahaluf.errors import InvalidInput
from tahaluf.services.hashing import HashOptions, InputItem, hash_item
from tahaluf.bootstrap import open_hub
from tahaluf.config import HubConfig
from tahaluf.services.matching import MatchEngine
from tahaluf.services.scanning import scan
from tahaluf.signal_types import SignalType, registry
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_hex, is_lower_hex
from tahaluf.storage import open_store
from tahaluf.storage.models import EXACT_TYPES

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

DOC = b"demo-entity weekly weather notes\n"
DOC_SHA1 = hashlib.sha1(DOC).hexdigest()


class SHA1(SignalType):
    """SHA-1 of a file's bytes, matched exactly: the smallest complete signal type."""

    name = "demo_sha1"
    aliases = ("demo_file_sha1",)
    content_kinds = ("file",)
    order = 25
    hex_digits = 40
    value_help = "40 hex digits"

    def compute(self, content: Content) -> list[Signal]:
        return [Signal(self.name, hashlib.sha1(content.read("file")).hexdigest())]


@pytest.fixture
def sha1() -> Iterator[SignalType]:
    kind = registry.register(SHA1())
    try:
        yield kind
    finally:
        registry.unregister(kind.name)
    assert registry.find("demo_sha1") is None and registry.find("demo_file_sha1") is None


def test_a_type_registered_in_a_test_hashes_banks_scans_exports_and_imports(sha1: SignalType,
                                                                            tmp_path: Path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_bytes(DOC)
    [hashed] = hash_item(InputItem("file", str(doc)), HashOptions())
    assert hashed.ok, hashed.error
    assert [s.type for s in hashed.signals] == ["md5", "sha256", "demo_sha1", "text"]
    assert hashed.signals[2].value == DOC_SHA1

    with open_store(f"sqlite:///{tmp_path / 'bank.db'}") as store:
        bank = banks.create_bank(store, "notes", labels={"entity": "demo-entity"}, signal_types=["demo_sha1"])
        assert bank.signal_types == ["demo_sha1"]
        report = banks.add_items(store, "notes", [banks.NewItem("note-1", [Signal("demo_sha1", DOC_SHA1.upper())])])
        assert (report.imported, report.error_count) == (1, 0)
        bad = banks.add_items(store, "notes", [banks.NewItem("note-2", [Signal("demo_sha1", "abc")])])
        assert bad.error_count == 1 and "40 hex digits" in bad.errors[0].message

        engine = MatchEngine(store).load()
        [result] = scan([InputItem("file", str(doc))], engine)
        assert [(m.external_id, m.signal_type, m.score) for m in result.matches] == [("note-1", "demo_sha1", 1.0)]

        exported = list(jsonl.export_jsonl(store, "notes"))
        assert json.loads(exported[1])["signals"] == [{"type": "demo_sha1", "value": DOC_SHA1}]
        banks.create_bank(store, "copy", signal_types=["demo_sha1"])
        copied = jsonl.import_jsonl(store, "copy", exported)
        assert (copied.imported, copied.error_count) == (1, 0)
        assert [r.value for r in banks.iter_signals(store, "demo_sha1", banks=["copy"])] == [DOC_SHA1]


def test_a_type_registered_in_a_test_is_looked_up_over_the_api(sha1: SignalType, tmp_path: Path) -> None:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, refresh_interval_s=0.05,
                        rate_limit_per_s=0))
    key = hub.accounts.add_member("cli:test", "alpha", ["curator", "matcher"])[1]
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(hub.config, hub=hub)) as client:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not hub.ready:
            assert time.monotonic() < deadline, "the hub never became ready"
            time.sleep(0.02)
        made = client.post("/v1/banks", headers=auth, json={"name": "notes", "labels": {"entity": "demo-entity"},
                                                            "signal_types": ["demo_sha1"]})
        assert made.status_code == 201, made.text
        added = client.post("/v1/banks/notes/items", headers=auth, json={
            "items": [{"external_id": "note-1", "signals": [{"type": "demo_sha1", "value": DOC_SHA1}]}]})
        assert added.status_code in (200, 201), added.text

        def lookup(value: str) -> dict:
            return client.get("/v1/lookup", headers=auth, params={"type": "demo_sha1", "value": value}).json()

        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (found := lookup(DOC_SHA1)).get("matches"):
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
        assert [(m["external_id"], m["signal_type"]) for m in found["matches"]] == [("note-1", "demo_sha1")]
        enum = client.get("/openapi.json").json()["components"]["schemas"]["SignalIn"]["properties"]["type"]["enum"]
        assert enum == list(registry.names()) and "demo_sha1" in enum
    hub.close()


def test_unregistered_types_are_refused_and_aliases_resolve(sha1: SignalType) -> None:
    assert registry.lookup("demo_file_sha1") is sha1
    assert registry.lookup("photo_md5").name == "md5"
    with pytest.raises(InvalidInput, match="unknown signal type"):
        registry.get("demo_file_sha1")  # an alias is for imports, not a stored name
    with pytest.raises(ValueError, match="already registered"):
        registry.register(SHA1())

    class Clash(SHA1):
        name = "demo_other"
        aliases = ("photo_md5",)

    with pytest.raises(ValueError, match="'photo_md5' is taken by 'md5'"):
        registry.register(Clash())
    assert registry.find("demo_other") is None
    assert registry.type_enabled("url_md5", ["url"]) and not registry.type_enabled("md5", ["url"])


def test_the_api_enum_and_the_cli_choices_are_the_registered_types(tmp_path: Path) -> None:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, rate_limit_per_s=0))
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        spec = client.get("/openapi.json").json()
    hub.close()
    schemas = spec["components"]["schemas"]
    assert schemas["SignalIn"]["properties"]["type"]["enum"] == list(registry.names())
    bank_types = schemas["BankIn"]["properties"]["signal_types"]["anyOf"][0]["items"]["enum"]
    assert bank_types == list(registry.names())
    assert set(registry.names()) == {"md5", "sha256", "pdq", "vpdq", "text", "url", "url_md5"}

    refused = CliRunner().invoke(app, ["lookup", "--type", "nosuch", "-"], terminal_width=200)
    assert refused.exit_code == 2
    choices = re.search(r"is not one of (.*?)\.", " ".join(refused.output.replace("│", " ").split()))
    assert choices is not None, refused.output
    assert re.findall(r"'(\w+)'", choices.group(1)) == list(registry.lookup_names())
    assert set(registry.lookup_names()) == set(registry.names()) - {"vpdq"}


def test_one_hex_check_for_every_digest() -> None:
    assert is_hex("ABCdef0123", 10) and not is_hex("abc", 4) and not is_hex("", None) and not is_hex(None)
    assert is_lower_hex("0" * 64, 64) and not is_lower_hex("A" * 64, 64) and not is_lower_hex("g" * 64, 64)


def test_the_partial_index_of_exact_lookups_covers_only_exact_types() -> None:
    # the predicate is schema (migration 0012); a new exact type is looked up without it
    assert set(EXACT_TYPES) <= set(registry.exact_names())
