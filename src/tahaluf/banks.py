"""Banks and bank items: the domain operations, written against :class:`Repository`.

Every function takes the repository first, so the same code runs on SQLite,
PostgreSQL or any other implementation of the storage contract. Input is
validated here (bank names, kinds, labels against the vocabulary, signal
values per type); errors are tahaluf errors. Batch operations
(:func:`add_items`, :func:`import_pytx`, :func:`import_jsonl`) validate each
item on its own, report bad ones by item or line number without stopping, and
commit one chunk at a time: an interrupted import keeps what it committed and
can be re-run, because items are unique per (bank, external id).
"""

from __future__ import annotations

import getpass
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tahaluf.bank_file import HEADER_KEY, BankHeader, parse_header
from tahaluf.errors import InvalidInput, NotFound, TahalufError
from tahaluf.labels import LabelVocabulary, default_vocabulary, merge_labels
from tahaluf.signals.base import SIGNAL_TYPES, Signal
from tahaluf.storage.repository.base import (
    BankRecord,
    ItemRow,
    NewBank,
    Repository,
    SignalRecord,
    SignalRow,
)

__all__ = [
    "KINDS",
    "Provenance",
    "NewItem",
    "ItemError",
    "ImportReport",
    "ImportBatch",
    "ItemInfo",
    "default_added_by",
    "validate_signal",
    "create_bank",
    "list_banks",
    "get_bank",
    "bank_stats",
    "delete_bank",
    "add_items",
    "set_item_enabled",
    "delete_item",
    "set_item_labels",
    "iter_signals",
    "item_info",
    "import_pytx",
    "export_pytx",
    "import_jsonl",
    "export_jsonl",
    "read_header",
    "check_header_fits",
    "bank_header",
    "VISIBILITIES",
]

KINDS = ("known", "allow")
VISIBILITIES = ("private", "members", "all")
_HEX_LENGTHS = {"md5": 32, "sha256": 64, "pdq": 64, "url": 64}
_HEX = re.compile(r"[0-9a-f]+")
_BANK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_EXTERNAL_ID = 1024
_MAX_REPORTED_ERRORS = 1000
#: deepest nesting of a JSON value kept in a bank (signal extras, import lines)
MAX_JSON_DEPTH = 32
DEFAULT_CHUNK = 20_000  # items per transaction in batch imports

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """One committed chunk of a batch import: input lines (or positions)
    ``first_line..last_line`` and what became of them."""

    first_line: int
    last_line: int
    imported: int
    duplicates: int
    errors: int


#: called inside each chunk's transaction (e.g. to append its audit entry there)
BatchHook = Callable[[ImportBatch], None]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who added an item, from where (file, feed, URL), and when (default: now)."""

    added_by: str
    source: str | None = None
    added_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewItem:
    external_id: str
    signals: Sequence[Signal]
    labels: Mapping[str, Any] = field(default_factory=dict)
    provenance: Provenance | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one item was not stored; ``line`` is the input line (or item position)."""

    line: int
    external_id: str | None
    message: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    error_count: int = 0
    #: the first 1000 errors, in input order
    errors: list[ItemError] = field(default_factory=list)
    #: ``(external id, external id of the item with the same content)`` of inputs
    #: skipped because the bank holds their content (counted in ``duplicates``)
    same_content: list[tuple[str, str]] = field(default_factory=list)

    def add_error(self, error: ItemError) -> None:
        self.error_count += 1
        if len(self.errors) < _MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def summary(self, *, max_lines: int = 5) -> str:
        """``imported N, skipped M duplicates, K errors (lines 3, 7)``."""
        text = f"imported {self.imported}, skipped {self.duplicates} duplicates, {self.error_count} errors"
        if self.errors:
            shown = ", ".join(str(e.line) for e in self.errors[:max_lines])
            more = ", ..." if self.error_count > max_lines else ""
            text += f" (lines {shown}{more})"
        return text


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """What a match reports about the bank item it hit (labels merged with bank defaults)."""

    item_id: int
    bank: str
    bank_kind: str
    external_id: str
    labels: dict[str, Any]
    enabled: bool


def default_added_by() -> str:
    """The login name of the current user, for provenance."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


# -- validation ---------------------------------------------------------------
def check_text(value: str, what: str) -> str:
    """``value`` if every database can store it: no NUL character (PostgreSQL
    refuses it) and no lone UTF-16 surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{what} contains a lone surrogate (\\u{ord(value[exc.start]):04x})") from exc
    return value


def check_json_value(value: Any, what: str, *, depth: int = 0) -> None:
    """InvalidInput unless ``value`` is plain JSON that every backend stores and
    reads back as it is: finite numbers, text per :func:`check_text`, objects
    with text keys, nested at most :data:`MAX_JSON_DEPTH` deep."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{what} holds {value!r}, which is not a JSON number")
    elif isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_json_value(v, what, depth=depth + 1)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"{what} has a key that is not text: {_short(k)}")
            check_text(k, what)
            check_json_value(v, what, depth=depth + 1)
    else:
        raise InvalidInput(f"{what} holds a {type(value).__name__}, which is not JSON")


def validate_signal(signal: Signal) -> SignalRow:
    """Check a signal's value for its type; hex values are lower-cased."""
    stype = signal.type
    if stype not in SIGNAL_TYPES:
        raise InvalidInput(f"unknown signal type {_short(stype)} (known: {', '.join(SIGNAL_TYPES)})")
    if not isinstance(signal.value, str):
        raise InvalidInput(f"{stype} value must be a string")
    extra = dict(signal.extra) if signal.extra else None
    if extra is not None:
        check_json_value(extra, f"{stype} signal's extra fields")
    if stype in _HEX_LENGTHS:
        value = signal.value.strip().lower()
        want = _HEX_LENGTHS[stype]
        if len(value) != want or not _HEX.fullmatch(value):
            raise InvalidInput(
                f"invalid {stype} value {_short(signal.value)}: expected {want} hex digits"
            )
        if stype == "pdq":
            _check_quality(extra)
            return SignalRow(stype, value, bytes.fromhex(value), extra)
        return SignalRow(stype, value, None, extra)
    if not signal.value.strip():
        raise InvalidInput(f"empty {stype} value")
    check_text(signal.value, f"{stype} value")
    return SignalRow(stype, _indexable_value(stype, signal.value), None, extra)


def _indexable_value(stype: str, value: str) -> str:
    """A text or vPDQ value the indexes can load: a raw post (python-threatexchange's
    raw_text) becomes its ``t1:`` sketch; sketches and vPDQ values are parsed, so
    a malformed one is refused here instead of stopping every index that loads it."""
    if stype == "text":
        from tahaluf.signals.text import TextSketch, text_signal

        if not value.startswith("t1:"):
            return text_signal(value).value
        TextSketch.from_value(value)
    elif stype == "vpdq":
        from tahaluf.index.vpdq import frames_from_value

        pdq, _quality = frames_from_value(value)
        if not len(pdq):
            raise InvalidInput("a vpdq value needs at least one frame")
    return value


def _check_quality(extra: dict[str, Any] | None) -> None:
    quality = (extra or {}).get("quality")
    if quality is not None and (not isinstance(quality, int) or not 0 <= quality <= 100):
        raise InvalidInput(f"pdq quality must be an integer 0..100, got {quality!r}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_bank_args(name: str, kind: str, signal_types: Sequence[str], pdq_max_distance: int) -> None:
    if not _BANK_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid bank name {_short(name)}: use letters, digits, '.', '_' or '-' (max 128)"
        )
    if kind not in KINDS:
        raise InvalidInput(f"invalid bank kind {kind!r} (use one of: {', '.join(KINDS)})")
    unknown = [t for t in signal_types if t not in SIGNAL_TYPES]
    if unknown:
        raise InvalidInput(f"unknown signal type(s): {', '.join(unknown)}")
    if not 0 <= pdq_max_distance <= 256:
        raise InvalidInput(f"pdq_max_distance must be 0..256, got {pdq_max_distance}")


# -- banks ---------------------------------------------------------------------
def create_bank(
    repo: Repository,
    name: str,
    kind: str = "known",
    labels: Mapping[str, Any] | None = None,
    *,
    signal_types: Sequence[str] | None = None,
    pdq_max_distance: int = 31,
    vocabulary: LabelVocabulary | None = None,
    owner: str | None = None,
    visibility: str = "all",
) -> BankRecord:
    """Create a bank; Conflict if the name is taken."""
    types = list(signal_types) if signal_types is not None else list(SIGNAL_TYPES)
    _check_bank_args(name, kind, types, pdq_max_distance)
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"invalid visibility {_short(visibility)} (use one of: {', '.join(VISIBILITIES)})")
    vocab = vocabulary or default_vocabulary()
    default_labels = vocab.validate(labels or {})
    return repo.create_bank(NewBank(name, kind, default_labels, types, pdq_max_distance, owner, visibility))


def list_banks(repo: Repository) -> list[BankRecord]:
    return repo.list_banks()


def get_bank(repo: Repository, bank: str | BankRecord) -> BankRecord:
    """The bank named ``bank``; NotFound if there is none."""
    if isinstance(bank, BankRecord):
        return bank
    found = repo.get_bank(bank)
    if found is None:
        raise NotFound(f"no bank named {bank!r} (see `tahaluf bank list`)")
    return found


def bank_stats(repo: Repository, bank: str | BankRecord) -> dict[str, int]:
    """``{"items", "enabled", "<signal type>": count, ...}``."""
    return repo.count_items(get_bank(repo, bank).id)


def delete_bank(repo: Repository, bank: str | BankRecord) -> None:
    """Delete a bank with all its items and signals."""
    repo.delete_bank(get_bank(repo, bank).id)


def set_item_enabled(repo: Repository, bank: str | BankRecord, external_id: str, enabled: bool) -> bool:
    """Enable or disable one item; returns False if it already was."""
    record = get_bank(repo, bank)
    try:
        return repo.set_item_enabled(record.id, external_id, enabled)
    except NotFound as exc:
        raise NotFound(f"bank {record.name!r} has no item {external_id!r}") from exc


def delete_item(repo: Repository, bank: str | BankRecord, external_id: str) -> None:
    """Delete one item and its signals (NotFound if the bank has no such item)."""
    record = get_bank(repo, bank)
    try:
        repo.delete_item(record.id, external_id)
    except NotFound as exc:
        raise NotFound(f"bank {record.name!r} has no item {external_id!r}") from exc


def set_item_labels(
    repo: Repository,
    bank: str | BankRecord,
    external_id: str,
    labels: Mapping[str, Any],
    *,
    vocabulary: LabelVocabulary | None = None,
) -> None:
    """Replace one item's own labels (validated; the bank's defaults still apply)."""
    record = get_bank(repo, bank)
    clean = (vocabulary or default_vocabulary()).validate(labels)
    try:
        repo.set_item_labels(record.id, external_id, clean)
    except NotFound as exc:
        raise NotFound(f"bank {record.name!r} has no item {external_id!r}") from exc


def iter_signals(
    repo: Repository, signal_type: str, *, banks: Sequence[str] | None = None, batch_size: int = 10_000
) -> Iterator[SignalRecord]:
    """Stream the signals of one type of every enabled item, for index building."""
    if signal_type not in SIGNAL_TYPES:
        raise InvalidInput(f"unknown signal type {signal_type!r}")
    bank_ids = [get_bank(repo, b).id for b in banks] if banks is not None else None
    for batch in repo.iter_signals(signal_type, bank_ids=bank_ids, batch_size=batch_size):
        yield from batch


def item_info(repo: Repository, item_ids: Iterable[int]) -> dict[int, ItemInfo]:
    """Bank, kind, external id and effective labels of items, by item id."""
    banks = {b.id: b for b in repo.list_banks()}
    out: dict[int, ItemInfo] = {}
    for item_id, item in repo.get_items(item_ids).items():
        bank = banks[item.bank_id]
        labels = merge_labels(bank.default_labels, item.labels)
        out[item_id] = ItemInfo(item_id, bank.name, bank.kind, item.external_id, labels, item.enabled)
    return out


# -- adding items ---------------------------------------------------------------
def _item_row(item: NewItem, vocab: LabelVocabulary, default: Provenance) -> ItemRow:
    ext = item.external_id
    if not isinstance(ext, str) or not ext.strip():
        raise InvalidInput("item has no external id")
    if len(ext) > _MAX_EXTERNAL_ID:
        raise InvalidInput(f"external id longer than {_MAX_EXTERNAL_ID} characters")
    check_text(ext, "external id")
    if not item.signals:
        raise InvalidInput(f"item {ext!r} has no signals")
    signals = [validate_signal(s) for s in item.signals]
    labels = vocab.validate(item.labels) if item.labels else {}
    prov = item.provenance or default
    if not isinstance(prov.added_by, str) or not (prov.source is None or isinstance(prov.source, str)):
        raise InvalidInput("provenance 'added_by' and 'source' must be text")
    check_text(prov.added_by, "provenance 'added_by'")
    if prov.source is not None:
        check_text(prov.source, "provenance 'source'")
    added_at = prov.added_at or default.added_at or _now()
    return ItemRow(ext, labels, signals, prov.added_by, prov.source, added_at, bool(item.enabled))


_Entry = tuple[int, ItemRow | ItemError]


def _store(
    repo: Repository, bank_id: int, entries: Iterable[_Entry], chunk: int, progress: Progress | None,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Store ``entries`` ``chunk`` rows per transaction; ``on_batch`` runs inside each
    one (at least one, even when nothing was stored), so what it writes commits
    with the chunk's items or not at all."""
    report = ImportReport()
    rows: list[ItemRow] = []
    seen = 0  # input lines (or items) read so far, for progress
    first = 1  # first input line of the chunk being filled
    errors_before = 0  # report.error_count when the chunk began

    def flush() -> None:
        nonlocal first, errors_before
        with repo.transaction():
            outcome = repo.add_items(bank_id, rows) if rows else None
            added = len(outcome.added) if outcome else 0
            dups = len(outcome.duplicates) if outcome else 0
            if on_batch is not None:
                on_batch(ImportBatch(first, seen, added, dups, report.error_count - errors_before))
        report.imported += added
        report.duplicates += dups
        if progress is not None:
            progress(seen)
        rows.clear()
        first, errors_before = seen + 1, report.error_count

    for number, entry in entries:
        seen = number
        if isinstance(entry, ItemError):
            report.add_error(entry)
        else:
            rows.append(entry)
            if len(rows) >= chunk:
                flush()
    if rows or progress is not None or on_batch is not None and (first == 1 or report.error_count > errors_before):
        flush()
    return report


def add_items(
    repo: Repository,
    bank: str | BankRecord,
    items: Iterable[NewItem],
    *,
    added_by: str | None = None,
    vocabulary: LabelVocabulary | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Add items; bad ones are reported by position (1-based), the rest stored."""
    record = get_bank(repo, bank)
    vocab = vocabulary or default_vocabulary()
    default = Provenance(added_by or default_added_by(), None, _now())

    def entries() -> Iterator[_Entry]:
        for number, item in enumerate(items, 1):
            try:
                yield number, _item_row(item, vocab, default)
            except InvalidInput as exc:
                yield number, ItemError(number, _ext_of(item), exc.message)

    return _store(repo, record.id, entries(), chunk_size, progress, on_batch)


def _ext_of(item: Any) -> str | None:
    ext = getattr(item, "external_id", None)
    return ext if isinstance(ext, str) else None


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
