"""Batch imports and exports of banks: python-threatexchange lists (see
:mod:`tahaluf.pytx_format`) and tahaluf JSONL (a bank header, see
:mod:`tahaluf.bank_file`, then one object per item).

Each import validates line by line (a bad line is that line's error, the rest
is stored) and commits one chunk at a time with :func:`tahaluf.banks._store`,
so an interrupted import keeps what it committed and can be re-run. These
functions are also read as ``tahaluf.banks.<name>``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tahaluf.bank_file import HEADER_KEY, BankHeader, parse_header
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
    validate_signal,
)
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.labels import LabelVocabulary, default_vocabulary
from tahaluf.signals.base import Signal
from tahaluf.storage.repository.base import BankRecord, ItemRow, Repository, SignalRow

__all__ = ["import_pytx", "export_pytx", "import_jsonl", "export_jsonl", "read_header", "check_header_fits",
           "bank_header", "load_json_line"]


# -- pytx import ------------------------------------------------------------------
def _pytx_external_id(row: SignalRow) -> str:
    ext = f"{row.signal_type}:{row.value}"
    if len(ext) <= 200:
        return ext
    return f"{row.signal_type}:sha256:{hashlib.sha256(row.value.encode()).hexdigest()}"


def _decoded(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | ItemError]]:
    """Number the lines (from 1) and decode those given as bytes: a line that is not
    UTF-8 becomes that line's error instead of ending the whole import."""
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, ItemError(number, None, f"line {number}: not UTF-8 text (byte {exc.start + 1})")
                continue
        yield number, line


def import_pytx(
    repo: Repository,
    bank: str | BankRecord,
    lines: Iterable[str | bytes],
    *,
    default_type: str | None = None,
    labels: Mapping[str, Any] | None = None,
    vocabulary: LabelVocabulary | None = None,
    added_by: str | None = None,
    source: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Import python-threatexchange signal lists: everything ``tx hash`` and
    ``tx dataset -P`` (with ``-S``, ``-s``, ``-c`` or ``--csv``) write (see
    :mod:`tahaluf.pytx_format`).

    One item per signal with external id ``<type>:<value>``, so a re-run skips
    what is already there; a video's ``video_md5`` line followed by its
    ``video_sha256`` line (``tx hash video``) is one item. ``default_type``
    reads lines holding only a value (``tx dataset -P -s TYPE``, pytx's
    ``signal_type`` file setting). ``labels`` are given to every item, with
    the collaboration, category and tags of the line as ``tags``. Blank lines
    and ``#`` comments are skipped; a line that cannot be read is that line's
    error (with the reason), the rest is imported.
    """
    from tahaluf.pytx_format import PytxLine, is_csv_header, parse_csv_row, parse_line

    record = get_bank(repo, bank)
    vocab = vocabulary or default_vocabulary()
    base_labels = vocab.validate(labels or {})
    added = _now()
    who = added_by or default_added_by()
    ptype_default = default_type.lower() if default_type else None

    def item_labels(tags: Sequence[str]) -> dict[str, Any]:
        if not tags:
            return base_labels
        return vocab.validate({**base_labels, "tags": list(dict.fromkeys([*base_labels.get("tags", []), *tags]))})

    def entries() -> Iterator[_Entry]:
        csv_mode = False
        pending: tuple[int, PytxLine, SignalRow] | None = None  # a bare video_md5, waiting for its sha256
        started = False
        for number, line in _decoded(lines):
            if isinstance(line, ItemError):
                yield number, line
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not started:
                started = True
                if is_csv_header(line):
                    csv_mode = True
                    continue
            try:
                parsed = parse_csv_row(line) if csv_mode else parse_line(line, ptype_default)
                row = validate_signal(parsed.signal)
                lab = item_labels(parsed.tags)
            except TahalufError as exc:
                yield number, ItemError(number, None, f"line {number}: {exc.message}")
                continue
            rows = [row]
            if pending is not None:
                p_number, p_line, p_row = pending
                pending = None
                if parsed.bare and parsed.pytx_type == "video_sha256" and p_line.tags == parsed.tags:
                    rows = [p_row, row]
                else:
                    yield p_number, _pytx_item(p_row, [p_row], item_labels(p_line.tags), who, source, p_number, added)
            if parsed.bare and parsed.pytx_type == "video_md5" and not csv_mode:
                pending = (number, parsed, row)
                continue
            yield number, _pytx_item(rows[0], rows, lab, who, source, number, added)
        if pending is not None:
            p_number, p_line, p_row = pending
            yield p_number, _pytx_item(p_row, [p_row], item_labels(p_line.tags), who, source, p_number, added)

    return _store(repo, record.id, entries(), chunk_size, progress, on_batch)


def _pytx_item(first: SignalRow, rows: list[SignalRow], labels: dict[str, Any], who: str, source: str | None,
               number: int, added: datetime) -> ItemRow:
    where = f"{source}:{number}" if source else None
    return ItemRow(_pytx_external_id(first), labels, tuple(rows), who, where, added, True)


def export_pytx(repo: Repository, bank: str | BankRecord) -> tuple[Iterator[str], Callable[[], int]]:
    """``<type> <value>`` lines of ``bank`` for python-threatexchange and HMA (see
    :func:`tahaluf.pytx_format.pytx_lines`), and a function giving the number
    of signals left out so far (types pytx has no counterpart for)."""
    from tahaluf.pytx_format import pytx_lines

    record = get_bank(repo, bank)
    left_out = 0

    def items() -> Iterator[list[tuple[str, str, dict[str, Any] | None]]]:
        for item in repo.iter_items(record.id):
            if item.enabled:
                yield [(s.signal_type, s.value, s.extra) for s in item.signals]

    def lines() -> Iterator[str]:
        nonlocal left_out
        for line in pytx_lines(items()):
            if line is None:
                left_out += 1
            else:
                yield line

    return lines(), lambda: left_out


# -- tahaluf JSONL ----------------------------------------------------------------
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
        signals.append(Signal(str(s.get("type")), s.get("value"), extra))  # type: ignore[arg-type]
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
    item = NewItem(
        external_id=obj.get("external_id", obj.get("id")),
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
    that starts with a bank header (:mod:`tahaluf.bank_file`) imports only into
    a bank of the header's kind: InvalidInput, and nothing imported, otherwise.
    Files without a header import as they are.
    """
    record = get_bank(repo, bank)
    vocab = vocabulary or default_vocabulary()
    default = Provenance(added_by or default_added_by(), source, _now())
    numbered = _decoded(lines)
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
