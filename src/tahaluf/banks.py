"""Banks and bank items: the domain operations, written against :class:`Repository`.

Every function takes the repository first, so the same code runs on SQLite,
PostgreSQL or any other implementation of the storage contract. Input is
validated here (bank names, kinds, labels against the vocabulary, signal
values per type); errors are tahaluf errors. Batch operations
(:func:`add_items`, and the readers of :mod:`tahaluf.formats`) validate each
item on its own, report bad ones by item or line number without stopping, and
commit one chunk at a time: an interrupted import keeps what it committed and
can be re-run, because items are unique per (bank, external id).
"""

from __future__ import annotations

import getpass
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tahaluf.errors import InvalidInput, NotFound
from tahaluf.labels import LabelVocabulary, default_vocabulary, merge_labels
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal
from tahaluf.ports.vocabulary import VISIBILITIES
from tahaluf.ports.banks import (
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
    "item_row",
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
    "VISIBILITIES",
]

KINDS = ("known", "allow")
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
    """Check a signal's value for its type (see :meth:`SignalType.canonical`): hex values
    are lower-cased, a raw post becomes its text sketch, vPDQ values are parsed."""
    stype = signal.type
    kind = registry.get(stype)
    if not isinstance(signal.value, str):
        raise InvalidInput(f"{stype} value must be a string")
    extra = dict(signal.extra) if signal.extra else None
    if extra is not None:
        check_json_value(extra, f"{stype} signal's extra fields")
    if kind.hex_digits is None:
        if not signal.value.strip():
            raise InvalidInput(f"empty {stype} value")
        check_text(signal.value, f"{stype} value")
    value, raw = kind.canonical(signal.value, extra)
    return SignalRow(stype, value, raw, extra)


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
    unknown = [t for t in signal_types if t not in registry.names()]
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
    """Create a bank (with its owner and visibility, in one transaction); Conflict if the name is taken."""
    return repo.create_bank(new_bank(name, kind, labels, signal_types=signal_types,
                                     pdq_max_distance=pdq_max_distance, vocabulary=vocabulary,
                                     owner=owner, visibility=visibility))


def new_bank(
    name: str,
    kind: str = "known",
    labels: Mapping[str, Any] | None = None,
    *,
    signal_types: Sequence[str] | None = None,
    pdq_max_distance: int = 31,
    vocabulary: LabelVocabulary | None = None,
    owner: str | None = None,
    visibility: str = "all",
) -> NewBank:
    """A checked bank description, ready to store (InvalidInput for a bad one)."""
    types = list(signal_types) if signal_types is not None else list(registry.names())
    _check_bank_args(name, kind, types, pdq_max_distance)
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    vocab = vocabulary or default_vocabulary()
    default_labels = vocab.validate(labels or {})
    return NewBank(name, kind, default_labels, types, pdq_max_distance, owner=owner, visibility=visibility)


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
    registry.get(signal_type)
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


def item_row(item: NewItem, *, added_by: str | None = None, vocabulary: LabelVocabulary | None = None) -> ItemRow:
    """One item validated into the row :meth:`Repository.add_items` stores (``InvalidInput`` if bad),
    for callers that store it inside a transaction of their own (a review decision)."""
    return _item_row(item, vocabulary or default_vocabulary(), Provenance(added_by or default_added_by(), None, _now()))


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
        errors = report.error_count - errors_before
        with repo.transaction():
            outcome = repo.add_items(bank_id, rows) if rows else None
            added = len(outcome.added) if outcome else 0
            dups = len(outcome.duplicates) if outcome else 0
            if on_batch is not None and (rows or errors or first == 1):
                on_batch(ImportBatch(first, seen, added, dups, errors))
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
