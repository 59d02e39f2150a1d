"""tahaluf's own bank file: JSONL, a bank header line, then one object per item.

An export starts with one JSON object describing the bank, so that a file
imported elsewhere means what it meant where it was written: the bank's kind
(an allow bank stays an allow bank), its default labels (the ``entity`` of
every item), PDQ threshold, signal types, visibility, owner and the members
it is shared with, and where and when it was exported::

    {"tahaluf_bank": 1, "name": "weather", "kind": "known", "default_labels": {...},
     "signal_types": [...], "pdq_max_distance": 31, "visibility": "all",
     "owner": null, "shared_with": [],
     "provenance": {"created_at": "...", "exported_at": "...", "exported_by": "..."}}

Every following line is one item (external id, labels, provenance, enabled,
signals). Files without a header (written before version 1) still import,
into an existing bank. Lossless: an export imported elsewhere is the same bank.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tahaluf.banks import (
    DEFAULT_CHUNK,
    MAX_JSON_DEPTH,
    BatchHook,
    ImportReport,
    ItemError,
    NewItem,
    Progress,
    Provenance,
    _Entry,
    _item_row,
    _now,
    _short,
    _store,
    default_added_by,
    get_bank,
)
from tahaluf.errors import InvalidInput
from tahaluf.formats.base import BankFormat, Export, ReadOptions, numbered_lines
from tahaluf.labels import LabelVocabulary, default_vocabulary
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal
from tahaluf.ports.banks import BankRecord, ItemRow, Repository

__all__ = [
    "FORMAT",
    "HEADER_KEY",
    "HEADER_VERSION",
    "BankHeader",
    "bank_header",
    "check_header_fits",
    "export_jsonl",
    "import_jsonl",
    "load_json_line",
    "parse_header",
    "read_header",
]

HEADER_KEY = "tahaluf_bank"
HEADER_VERSION = 1


@dataclass(frozen=True, slots=True)
class BankHeader:
    """What an export says about its bank."""

    name: str
    kind: str
    default_labels: dict[str, Any] = field(default_factory=dict)
    signal_types: list[str] = field(default_factory=lambda: list(registry.names()))
    pdq_max_distance: int = 31
    visibility: str = "all"
    owner: str | None = None
    shared_with: list[str] = field(default_factory=list)
    #: where the export comes from: ``created_at`` (the bank), ``exported_at``, ``exported_by``
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_line(self) -> str:
        """The header as one JSON line (no newline)."""
        obj = {HEADER_KEY: HEADER_VERSION, **{k: getattr(self, k) for k in self.__slots__}}
        return json.dumps(obj, ensure_ascii=False)


def _text(obj: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"bank header: {key!r} must be text")
    return value


def _texts(obj: dict[str, Any], key: str, default: Sequence[str]) -> list[str]:
    value = obj.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"bank header: {key!r} must be a list of text")
    return value


def parse_header(obj: Any) -> BankHeader | None:
    """The header in a parsed first line, None if it is not one (an item line)."""
    if not isinstance(obj, dict) or HEADER_KEY not in obj:
        return None
    version = obj[HEADER_KEY]
    if version != HEADER_VERSION:
        raise InvalidInput(
            f"bank header version {version!r} is not supported (this tahaluf reads version {HEADER_VERSION}; "
            "upgrade tahaluf)"
        )
    labels = obj.get("default_labels") or {}
    if not isinstance(labels, dict):
        raise InvalidInput("bank header: 'default_labels' must be an object")
    provenance = obj.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise InvalidInput("bank header: 'provenance' must be an object")
    threshold = obj.get("pdq_max_distance", 31)
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise InvalidInput("bank header: 'pdq_max_distance' must be an integer")
    return BankHeader(
        name=_text(obj, "name"),
        kind=_text(obj, "kind"),
        default_labels=labels,
        signal_types=_texts(obj, "signal_types", registry.names()),
        pdq_max_distance=threshold,
        visibility=_text(obj, "visibility", optional=True) or "all",
        owner=_text(obj, "owner", optional=True),
        shared_with=_texts(obj, "shared_with", ()),
        provenance=provenance,
    )


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number")


def load_json_line(line: str) -> Any:
    """Parse one JSON line strictly: NaN and Infinity refused, nesting past the
    parser's depth (``[[[[...]]]]``) an InvalidInput rather than a crash;
    deeper-than-stored values are refused later by :func:`check_json_value`."""
    try:
        return json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError as exc:
        raise InvalidInput(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from exc


def _parse_jsonl_item(line: str, vocab: LabelVocabulary, default: Provenance) -> ItemRow:
    obj = load_json_line(line)
    if not isinstance(obj, dict):
        raise InvalidInput("expected a JSON object")
    raw_signals = obj.get("signals")
    if not isinstance(raw_signals, list) or not all(isinstance(s, dict) for s in raw_signals):
        raise InvalidInput("'signals' must be a list of objects")
    signals = []
    for s in raw_signals:
        extra = {k: v for k, v in s.items() if k not in ("type", "value")}
        signals.append(Signal(str(s.get("type")), s.get("value"), extra))
    prov = obj.get("provenance") or {}
    if not isinstance(prov, dict):
        raise InvalidInput("'provenance' must be an object")
    for key in ("added_by", "source", "added_at"):
        if not isinstance(prov.get(key), (str, type(None))):
            raise InvalidInput(f"provenance '{key}' must be text (or null), not {type(prov[key]).__name__}")
    enabled = obj.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"'enabled' must be true or false, not {_short(enabled)}")
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise InvalidInput("'labels' must be an object")
    external_id = obj.get("external_id", obj.get("id"))
    if not isinstance(external_id, str):
        raise InvalidInput("item has no external id")
    item = NewItem(
        external_id=external_id,
        signals=signals,
        labels=labels,
        provenance=Provenance(
            prov.get("added_by") or default.added_by,
            prov.get("source", default.source),
            _parse_time(prov.get("added_at")) or default.added_at,
        ),
        enabled=enabled,
    )
    return _item_row(item, vocab, default)


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(f"added_at {_short(value)} is not an ISO 8601 time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def import_jsonl(
    repo: Repository,
    bank: str | BankRecord,
    lines: Iterable[str | bytes],
    *,
    added_by: str | None = None,
    source: str | None = None,
    vocabulary: LabelVocabulary | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Import tahaluf JSONL (as written by :func:`export_jsonl`) into ``bank``.

    Provenance and the enabled flag in the file are kept; the ``bank`` field
    of each object is informational (everything goes into ``bank``). A file
    that starts with a bank header (see :func:`bank_header`) imports only into
    a bank of the header's kind: InvalidInput, and nothing imported, otherwise.
    Files without a header import as they are.
    """
    record = get_bank(repo, bank)
    vocab = vocabulary or default_vocabulary()
    default = Provenance(added_by or default_added_by(), source, _now())
    numbered = numbered_lines(lines)
    first = next(numbered, None)
    if first is not None and isinstance(first[1], str):
        header = read_header(first[1])
        if header is not None:
            check_header_fits(header, record)
            first = None  # the header is not an item

    def entries() -> Iterator[_Entry]:
        for number, line in itertools.chain([first] if first is not None else [], numbered):
            if isinstance(line, ItemError):
                yield number, line
                continue
            if not line.strip():
                continue
            try:
                yield number, _parse_jsonl_item(line, vocab, default)
            except InvalidInput as exc:
                yield number, ItemError(number, None, f"line {number}: {exc.message}")

    return _store(repo, record.id, entries(), chunk_size, progress, on_batch)


def read_header(line: str | bytes) -> BankHeader | None:
    """The bank header on a file's first line, None if that line is an item (or
    not JSON: the import reports it as that line's error); InvalidInput for a
    header this version cannot read."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not line.lstrip().startswith("{") or HEADER_KEY not in line:
        return None
    try:
        obj = load_json_line(line)
    except InvalidInput:
        return None
    return parse_header(obj)


def check_header_fits(header: BankHeader, record: BankRecord) -> None:
    """InvalidInput unless an export with ``header`` may be imported into ``record``."""
    if header.kind != record.kind:
        raise InvalidInput(
            f"the file is an export of {header.kind} bank {header.name!r}; bank {record.name!r} is a "
            f"{record.kind} bank, and importing would change what its items mean (import into a new "
            f"bank instead: `tahaluf bank import NEW-NAME FILE` creates it from the file)"
        )


def bank_header(record: BankRecord, *, shared_with: Sequence[str] = (), exported_by: str | None = None) -> BankHeader:
    """The header an export of ``record`` starts with."""
    return BankHeader(
        name=record.name, kind=record.kind, default_labels=record.default_labels,
        signal_types=list(record.signal_types), pdq_max_distance=record.pdq_max_distance,
        visibility=record.visibility, owner=record.owner, shared_with=list(shared_with),
        provenance={"created_at": record.created_at.isoformat(), "exported_at": _now().isoformat(),
                    "exported_by": exported_by or default_added_by()},
    )


def export_jsonl(
    repo: Repository, bank: str | BankRecord, *, shared_with: Sequence[str] = (), exported_by: str | None = None
) -> Iterator[str]:
    """The bank header line, then one JSON line per item of ``bank`` in insertion
    order (lines without newline)."""
    record = get_bank(repo, bank)
    yield bank_header(record, shared_with=shared_with, exported_by=exported_by).to_line()
    for item in repo.iter_items(record.id):
        obj = {
            "bank": record.name,
            "external_id": item.external_id,
            "labels": item.labels,
            "provenance": {
                "added_by": item.added_by,
                "source": item.source,
                "added_at": item.added_at.isoformat(),
            },
            "enabled": item.enabled,
            "signals": [Signal(s.signal_type, s.value, s.extra or {}).to_json() for s in item.signals],
        }
        yield json.dumps(obj, ensure_ascii=False)


class JsonlFormat(BankFormat):
    """tahaluf JSONL: lossless, with the bank's header."""

    name = "jsonl"
    help = "tahaluf export: a bank header line, then one JSON object per item (lossless)"
    has_header = True
    media_type = "application/x-ndjson"

    def sniff(self, first_line: str) -> bool:
        return first_line.lstrip().startswith("{")

    def header(self, first_line: str | bytes) -> BankHeader | None:
        return read_header(first_line)

    def read(self, repo: Repository, bank: str | BankRecord, lines: Iterable[str | bytes],
             options: ReadOptions) -> ImportReport:
        return import_jsonl(repo, bank, lines, added_by=options.added_by, source=options.source,
                            vocabulary=options.vocabulary, chunk_size=options.chunk_size,
                            progress=options.progress, on_batch=options.on_batch)

    def write(self, repo: Repository, bank: str | BankRecord, *, shared_with: Sequence[str] = (),
              exported_by: str | None = None) -> Export:
        lines = export_jsonl(repo, bank, shared_with=shared_with, exported_by=exported_by)
        return Export(lines, unit="items", header_lines=1)


FORMAT = JsonlFormat()
