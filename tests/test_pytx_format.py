"""python-threatexchange interoperability (issue 11, point 5): everything
`tx hash` and `tx dataset` write imports, with its metadata as labels, and a
bank exported as pytx reads back with python-threatexchange's own code.

The fixtures in tests/fixtures/pytx were written by python-threatexchange
1.2.17's `tx` CLI (tests/fixtures/pytx/regenerate.sh)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tahaluf import banks
from tahaluf.formats.pytx import import_pytx
from tahaluf.cli.main import app
from tahaluf.signals.text import text_signal
from tahaluf.signals.url import url_signal
from tahaluf.storage import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures" / "pytx"
UNSUPPORTED = {"trend_query"}  # no tahaluf counterpart: refused per line, with the reason


@pytest.fixture
def repo(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'pytx.db'}") as s:
        yield s


def _lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines(True)


def _types(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines if line.strip()]


def _items(store: Store, bank: str) -> list[Any]:
    return list(store.iter_items(banks.get_bank(store, bank).id))


@pytest.mark.parametrize("name", ["tx-dataset.txt", "tx-dataset-signals-only.txt"])
def test_tx_dataset_lines_import_with_their_metadata(repo: Store, name: str) -> None:
    banks.create_bank(repo, "sample")
    lines = _lines(name)
    report = import_pytx(repo, "sample", lines, labels={"entity": "demo-entity"})
    refused = [t for t in _types(lines) if t in UNSUPPORTED]
    assert (report.imported, report.error_count) == (len(lines) - len(refused), len(refused))
    assert all("trend_query" in e.message for e in report.errors)
    items = _items(repo, "sample")
    assert all(i.labels["entity"] == "demo-entity" for i in items)
    if name == "tx-dataset.txt":
        assert all({"pytx-collab:Sample_Signals", "pytx-category:INVESTIGATION_SEED"} <= set(i.labels["tags"])
                   for i in items)
    values = {(s.signal_type, s.value) for i in items for s in i.signals}
    assert ("text", text_signal("The quick brown fox jumps over the lazy dog").value) in values
    assert ("url", url_signal("https://developers.facebook.com/docs/threat-exchange/reference/apis/").value) in values
    assert ("md5", "cab08b36195edb1a1231d2d09fa450e0") in values
    assert ("url_md5", "95c3a3934d38b06959d4f6d5bfe48a79") in values


def test_tx_dataset_csv_imports_every_row(repo: Store) -> None:
    banks.create_bank(repo, "sample")
    lines = _lines("tx-dataset.csv")
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    report = import_pytx(repo, "sample", lines)
    refused = [r for r in rows if r["signal_type"] in UNSUPPORTED]
    assert (report.imported, report.error_count) == (len(rows) - len(refused), len(refused))
    assert all("pytx-category:INVESTIGATION_SEED" in i.labels["tags"] for i in _items(repo, "sample"))


def test_tx_dataset_with_one_type_or_one_collab(repo: Store) -> None:
    banks.create_bank(repo, "sample")
    bare = import_pytx(repo, "sample", _lines("tx-dataset-pdq.txt"))
    assert bare.imported == 0 and "--signal-type" in bare.errors[0].message
    typed = import_pytx(repo, "sample", _lines("tx-dataset-pdq.txt"), default_type="PDQ")
    assert (typed.imported, typed.error_count) == (16, 0)
    one = import_pytx(repo, "sample", _lines("tx-dataset-one-collab.txt"))
    assert one.error_count == 1 and one.imported + one.duplicates == 25  # all but the trend_query
    assert all("pytx-category:INVESTIGATION_SEED" in i.labels["tags"] for i in _items(repo, "sample"))


def test_tx_hash_output_imports_and_a_video_is_one_item(repo: Store) -> None:
    banks.create_bank(repo, "hashed")
    lines = _lines("tx-hash.txt")
    report = import_pytx(repo, "hashed", lines)
    # photos (pdq), one video (md5 + sha256), URLs as url_md5: every line imports
    assert report.error_count == 0
    items = _items(repo, "hashed")
    video = [i for i in items if any(s.signal_type == "md5" for s in i.signals)]
    assert len(video) == 1 and sorted(s.signal_type for s in video[0].signals) == ["md5", "sha256"]
    assert report.imported == _types(lines).count("pdq") + 1 + _types(lines).count("url_md5")
    rotations = import_pytx(repo, "hashed", _lines("tx-hash-rotations.txt") + _lines("tx-hash-unletterbox.txt"))
    assert rotations.error_count == 0 and rotations.imported + rotations.duplicates == 9


def test_upper_case_types_and_tabs(repo: Store) -> None:
    banks.create_bank(repo, "hashed")
    pdq = _lines("tx-hash.txt")[0].split()[1]
    report = import_pytx(repo, "hashed", [f"PDQ\t{pdq}\n", "URL\thttps://example.org/weather\n"])
    assert (report.imported, report.error_count) == (2, 0)


def test_cli_import_with_label_then_pytx_export_reads_back_in_pytx(tmp_path: Path) -> None:
    from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal
    from threatexchange.signal_type.url_md5 import UrlMD5Signal

    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--db", db, "bank", *args])

    assert run("create", "hashed").exit_code == 0
    imported = run("import", "hashed", str(FIXTURES / "tx-hash.txt"), "--format", "pytx",
                   "--label", "entity=demo-entity", "--label", "tags=weather")
    assert imported.exit_code == 0, imported.output  # url_md5 lines too
    shown = run("export", "hashed")
    assert all('"entity": "demo-entity"' in line for line in shown.stdout.splitlines()[1:])
    out = tmp_path / "hashed.txt"
    exported = run("export", "hashed", "--format", "pytx", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(name="back", api="local_file", enabled=True,
                                                             filename=str(out)))
    read = {key for delta in api.fetch_iter([], None) for key in delta.updates}
    types = {t.get_name(): t for t in (PdqSignal, VideoMD5Signal, VideoSHA256Signal, UrlMD5Signal)}
    for stype, value in read:
        assert types[stype].validate_signal_str(value) == value
    wanted = {tuple(line.split()) for line in _lines("tx-hash.txt")}
    assert read == wanted
