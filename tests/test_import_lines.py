"""`bank import`: one bad line is an error for that line, never the end of the
import; every good line is stored (and audited); exit 3 says some failed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tahaluf.cli.main import app
from tahaluf.storage import open_store

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _pdq(n: int) -> str:
    return f"{n:064x}"


def _item(n: int, **extra: object) -> dict[str, object]:
    return {"external_id": f"weather-{n}", "signals": [{"type": "pdq", "value": _pdq(n)}],
            "labels": {"entity": "demo-entity"}, **extra}


@pytest.fixture
def cli(db_url: str):
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, ["--db", db_url, *args], input=input)

    assert invoke("bank", "create", "weather").exit_code == 0
    return invoke


def _external_ids(db_url: str) -> set[str]:
    with open_store(db_url) as store:
        bank = store.get_bank("weather")
        assert bank is not None
        return {i.external_id for i in store.iter_items(bank.id)}


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BAD_JSONL = {
    "nested-vpdq": json.dumps({"external_id": "bad", "signals": [{"type": "vpdq", "value": "[" * 100_000}]}),
    "deep-line": "[" * 100_000 + "]" * 100_000,
    "deep-extra": json.dumps({"external_id": "bad", "signals": [
        {"type": "pdq", "value": PDQ, "note": json.loads("[" * 60 + "]" * 60)}]}),
    "lone-surrogate-id": '{"external_id": "bad-\\ud800", "signals": [{"type": "pdq", "value": "%s"}]}' % PDQ,
    "nul-in-id": '{"external_id": "bad-\\u0000", "signals": [{"type": "pdq", "value": "%s"}]}' % PDQ,
    "provenance-object": json.dumps({"external_id": "bad", "signals": [{"type": "pdq", "value": PDQ}],
                                     "provenance": {"source": {"feed": "markets"}}}),
    "nan-extra": '{"external_id": "bad", "signals": [{"type": "pdq", "value": "%s", "score": NaN}]}' % PDQ,
    "enabled-no": json.dumps({"external_id": "bad", "signals": [{"type": "pdq", "value": PDQ}], "enabled": "no"}),
}


@pytest.mark.parametrize("bad", list(BAD_JSONL), ids=list(BAD_JSONL))
def test_a_bad_jsonl_line_is_that_lines_error(cli, db_url: str, tmp_path: Path, bad: str) -> None:
    lines = [json.dumps(_item(1)), BAD_JSONL[bad], json.dumps(_item(2))]
    result = cli("bank", "import", "weather", str(_write_jsonl(tmp_path / "in.jsonl", lines)), "--format", "jsonl")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "warning: line 2:" in result.stderr
    assert "imported 2, skipped 0 duplicates, 1 errors (lines 2)" in result.stdout
    assert _external_ids(db_url) == {"weather-1", "weather-2"}
    exported = cli("bank", "export", "weather")
    for line in exported.stdout.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"export wrote {c}"))


def test_a_non_utf8_line_in_the_middle_loses_nothing_else(cli, db_url: str, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    with src.open("wb") as f:
        for n in range(1, 5_001):
            f.write(f"pdq {_pdq(n)}\n".encode())
        f.write(b"pdq \xff\xfe not text\n")
        for n in range(5_001, 10_001):
            f.write(f"pdq {_pdq(n)}\n".encode())
    result = cli("bank", "import", "weather", str(src), "--format", "pytx")
    assert result.exit_code == 3, result.output
    assert "warning: line 5001: not UTF-8 text" in result.stderr
    assert "imported 10000, skipped 0 duplicates, 1 errors (lines 5001)" in result.stdout
    assert len(_external_ids(db_url)) == 10_000
    entries = [json.loads(line) for line in cli("audit", "list", "--limit", "1000").stdout.splitlines()]
    assert sum(e["details"]["imported"] for e in entries if e["action"] == "item.import") == 10_000


def test_import_from_stdin_with_a_non_utf8_line(cli, db_url: str) -> None:
    data = f"pdq {_pdq(1)}\n".encode() + b"\xc3\x28\n" + f"pdq {_pdq(2)}\n".encode()
    result = cli("bank", "import", "weather", "-", "--format", "pytx", input=data)
    assert result.exit_code == 3 and "line 2: not UTF-8" in result.stderr
    assert len(_external_ids(db_url)) == 2


def test_enabled_false_is_kept_and_a_string_is_refused(cli, db_url: str, tmp_path: Path) -> None:
    lines = [json.dumps(_item(1, enabled=False)), json.dumps(_item(2, enabled="no"))]
    result = cli("bank", "import", "weather", str(_write_jsonl(tmp_path / "in.jsonl", lines)), "--format", "jsonl")
    assert result.exit_code == 3 and "'enabled' must be true or false" in result.stderr
    with open_store(db_url) as store:
        bank = store.get_bank("weather")
        assert bank is not None
        assert [(i.external_id, i.enabled) for i in store.iter_items(bank.id)] == [("weather-1", False)]


def test_a_malformed_sketch_line_does_not_stop_a_text_lookup(cli) -> None:
    from tahaluf.signals.text import text_signal

    good = text_signal("The weekly market opened at dawn and traders expect a busy season of sales.").value
    result = cli("lookup", "--type", "text", "-", input=f"t1:%%%not-base64\n{good}\nt1:AAA\n")
    assert "Traceback" not in result.output and result.exit_code == 3, result.output
    assert len([line for line in result.stdout.splitlines() if line.strip()]) >= 3


def test_signal_extras_must_be_finite_json() -> None:
    from tahaluf.banks import validate_signal
    from tahaluf.errors import InvalidInput
    from tahaluf.signals.base import Signal

    for bad in (math.nan, math.inf, {"a": [math.nan]}):
        with pytest.raises(InvalidInput):
            validate_signal(Signal("pdq", PDQ, {"score": bad}))
