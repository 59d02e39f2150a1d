"""Scan reports: JSON lines, CSV, and the self-contained HTML page (:mod:`tahaluf.report_html`).

JSON lines are written as results arrive; :class:`JsonlAppender` appends a
resumable job's results to an existing file. CSV cells that a spreadsheet
would run as formulas are escaped.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from tahaluf.report_html import HtmlReport, highlight_shared
from tahaluf.services.scanning import ScanResult

__all__ = ["CSV_FIELDS", "write_jsonl_line", "JsonlAppender", "CsvReport", "HtmlReport", "highlight_shared", "csv_cell"]

CSV_FIELDS = (
    "input", "content_type", "error", "allowed", "actionable", "bank", "bank_kind",
    "item_id", "external_id", "signal_type", "distance", "similarity", "evidence", "labels",
)


def write_jsonl_line(out: TextIO, result: ScanResult) -> None:
    out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


class JsonlAppender:
    """Appends a job's results to a JSON-lines file, so that the file ends up
    holding every stored result of the job once, whatever happened before.

    Opening it repairs the file against the job's stored results: a line cut
    short by a killed scan is dropped, and a stored result whose line is
    missing (the scan was killed between storing and writing it) is appended.
    Lines are compared as JSON, so key order does not matter (PostgreSQL
    ``JSONB`` reorders keys). Other lines already in the file are kept. A
    failed input is not stored (it is tried again next time): its error line
    is written only if the file does not hold the same line already.
    """

    def __init__(self, path: Path, stored: Iterable[ScanResult]) -> None:
        self.path = path
        have: Counter[str] = Counter()
        self.errors: set[str] = set()
        if path.exists():
            _drop_partial_line(path)
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # not ours; kept as it is
                    have[_canonical(obj)] += 1
                    if isinstance(obj, dict) and obj.get("error"):
                        self.errors.add(_canonical(obj))
        self.out: TextIO = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self.repaired = 0
        for r in stored:
            key = _canonical(r.to_json())
            if have[key]:
                have[key] -= 1
            else:
                write_jsonl_line(self.out, r)
                self.repaired += 1
        self.out.flush()

    def add(self, r: ScanResult) -> None:
        obj = r.to_json()
        if r.error and _canonical(obj) in self.errors:
            return
        write_jsonl_line(self.out, r)
        self.out.flush()

    def close(self) -> None:
        self.out.close()


def _drop_partial_line(path: Path) -> None:
    """Truncate ``path`` after its last newline (a line cut short by a kill)."""
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        pos, step = size, 1 << 16
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                fh.truncate(start + nl + 1)
                return
            pos = start
        fh.truncate(0)


#: a spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` safe for a spreadsheet: text that would start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvReport:
    """One row per match (and one row for an input without matches).

    Every text cell that a spreadsheet would read as a formula (ids and
    labels come from partners' data) is escaped with :func:`csv_cell`.
    """

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        self.writer.writeheader()

    def add(self, r: ScanResult) -> None:
        base = {"input": r.input, "content_type": r.content_type, "error": r.error or "",
                "allowed": r.allowed, "actionable": r.actionable}
        if not r.matches:
            self._write(base)
        for m in r.matches:
            j = m.to_json()
            self._write({**base, **{k: j.get(k, "") for k in CSV_FIELDS if k in j},
                         "evidence": json.dumps(m.evidence, ensure_ascii=False),
                         "labels": json.dumps(m.labels, ensure_ascii=False)})

    def _write(self, row: dict[str, Any]) -> None:
        self.writer.writerow({k: csv_cell(v) for k, v in row.items()})
