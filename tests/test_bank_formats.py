"""Bank file formats are a registry: a format registered here, inside the test,
round-trips a bank through the same service the CLI and the API use, without
touching any other file; the built-in ones are found in :mod:`tahaluf.formats`."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from tahaluf import banks
from tahaluf.api.app import create_app
from tahaluf.banks import ImportReport, NewItem
from tahaluf.cli.bank import ImportFormat
from tahaluf.errors import InvalidInput
from tahaluf.formats import registry
from tahaluf.formats.base import BankFormat, Export, ReadOptions
from tahaluf.services.bank_files import export_bank_file, import_bank_file
from tahaluf.bootstrap import open_hub, sql_ports
from tahaluf.config import HubConfig
from tahaluf.signals.base import Signal
from tahaluf.storage import Store, open_store
from tahaluf.storage.repository.base import BankRecord, Repository

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

PDQ = "e" * 64
MD5 = "0123456789abcdef" * 2
SHA256 = "ab" * 32


class CommaFormat(BankFormat):
    """``<type>,<value>`` lines, one item per line (a format written for this test)."""

    name = "comma"
    help = "<type>,<value> lines"

    def read(self, repo: Repository, bank: str | BankRecord, lines: Iterable[str | bytes],
             options: ReadOptions) -> ImportReport:
        def items() -> Iterator[NewItem]:
            for line in lines:
                text = line.decode() if isinstance(line, bytes) else line
                stype, _, value = text.strip().partition(",")
                yield NewItem(f"{stype}:{value}", [Signal(stype, value)], {})

        return banks.add_items(repo, bank, items(), added_by=options.added_by, vocabulary=options.vocabulary,
                               on_batch=options.on_batch)

    def write(self, repo: Repository, bank: str | BankRecord, *, shared_with: Sequence[str] = (),
              exported_by: str | None = None) -> Export:
        record = banks.get_bank(repo, bank)
        lines = (f"{s.signal_type},{s.value}" for item in repo.iter_items(record.id) for s in item.signals)
        return Export(lines, unit="signals")


@pytest.fixture
def comma() -> Iterator[BankFormat]:
    fmt = registry.register(CommaFormat())
    yield fmt
    registry.unregister(fmt.name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'banks.db'}") as s:
        yield s


def test_the_built_in_formats_are_found_and_drive_the_cli_choices() -> None:
    assert registry.names() == ["jsonl", "pytx"]
    assert [f.value for f in ImportFormat] == registry.names()
    assert registry.get("PYTX") is registry.get("pytx")
    with pytest.raises(InvalidInput, match="expected one of: jsonl, pytx"):
        registry.get("csv")
    assert registry.get("jsonl").sniff('{"tahaluf_bank": 1}') and not registry.get("pytx").sniff("{")
    assert registry.get("pytx").sniff(f"pdq {PDQ}")


def test_a_format_registered_in_a_test_round_trips_a_bank(store: Store, comma: BankFormat) -> None:
    assert "comma" in registry.names()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CommaFormat())
    banks.create_bank(store, "source", "known", {"entity": "demo-entity"})
    lines = [f"pdq,{PDQ}\n", f"md5,{MD5}\n", f"sha256,{SHA256}\n"]
    first = import_bank_file(sql_ports(store), "source", lines, fmt="comma", actor="cli:test", source="a.comma")
    assert (first.report.imported, first.report.error_count) == (3, 0)

    export = export_bank_file(sql_ports(store), "source", fmt="comma")
    written = list(export.lines)
    assert sorted(written) == sorted(line.strip() for line in lines) and export.unit == "signals"

    banks.create_bank(store, "copy", "known", {"entity": "demo-entity"})
    copied = import_bank_file(sql_ports(store), "copy", written, fmt="comma", actor="cli:test", source="b.comma")
    assert copied.report.imported == 3
    assert sorted(export_bank_file(sql_ports(store), "copy", fmt="comma").lines) == sorted(written)
    with pytest.raises(InvalidInput, match="--label applies to --format pytx"):
        import_bank_file(sql_ports(store), "copy", written, fmt="comma", actor="cli:test", source="b",
                         labels={"tags": ["x"]})


def test_the_api_takes_a_format_registered_in_a_test(tmp_path: Path, comma: BankFormat) -> None:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, rate_limit_per_s=0))
    _, key = hub.accounts.add_member("cli:test", "alpha", ["curator"])
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        assert client.post("/v1/banks", json={"name": "weather", "labels": {"entity": "demo-entity"}},
                           headers=auth).status_code == 201
        resp = client.post("/v1/banks/weather/import", params={"format": "comma"}, headers=auth,
                           content=f"pdq,{PDQ}\nmd5,{MD5}\n".encode())
        assert resp.status_code == 200 and resp.json()["imported"] == 2, resp.text
        out = client.get("/v1/banks/weather/export", params={"format": "comma"}, headers=auth)
        assert sorted(out.text.splitlines()) == sorted([f"pdq,{PDQ}", f"md5,{MD5}"])
    hub.close()
