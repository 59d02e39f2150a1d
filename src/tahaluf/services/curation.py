"""Bank items through the hub: listing with filters, adding signals or content,
label and enabled changes, deletion. Every change is checked against the
caller's roles and the bank's owner, and written to the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from tahaluf.access import Capability, Principal
from tahaluf.banks import (ImportReport, ItemError, NewItem, Provenance, add_items, delete_item, get_bank,
                           set_item_enabled, set_item_labels, validate_signal)
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.labels import LIST_LABELS, merge_labels
from tahaluf.ports.banks import ItemRecord, Repository
from tahaluf.services.audit import AuditService
from tahaluf.services.banks import BankService
from tahaluf.services.lookup import LookupService
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal

__all__ = ["CurationService", "ItemFilter", "ItemPage", "ItemView", "index_signal", "item_view"]

class ItemFilter:
    """Filters of an item listing: ``label`` is ``key=value`` pairs (``entity=x`` too)."""

    def __init__(
        self,
        labels: Sequence[str] = (),
        *,
        entity: str | None = None,
        added_after: datetime | None = None,
        added_before: datetime | None = None,
        enabled: bool | None = None,
        disputed: bool | None = None,
    ) -> None:
        pairs = []
        for raw in labels:
            key, sep, value = raw.partition("=")
            if not sep or not key or not value:
                raise InvalidInput(f"label filter must be key=value, not {raw!r}")
            pairs.append((key.strip(), value.strip()))
        if entity:
            pairs.append(("entity", entity))
        self.labels = pairs
        self.added_after = added_after
        self.added_before = added_before
        self.enabled = enabled
        self.disputed = disputed


class ItemPage(NamedTuple):
    """One page of items and the ``after`` of the next page (None: the last)."""

    items: list[ItemView]
    next_after: int | None


@dataclass(frozen=True)
class ItemView:
    """An item as a member sees it: its own labels merged over the bank's defaults, and
    whether members dispute it (see :mod:`tahaluf.wire.banks` for its JSON)."""

    record: ItemRecord
    labels: dict[str, Any]
    disputed: bool


def item_view(item: ItemRecord, bank_defaults: Mapping[str, Any], *, disputed: bool) -> ItemView:
    return ItemView(item, merge_labels(bank_defaults, item.labels), disputed)


def _default_matches(defaults: Mapping[str, Any], key: str, value: str) -> bool:
    have = defaults.get(key)
    if key in LIST_LABELS and isinstance(have, list):
        return value in have
    return have == value


def index_signal(signal: Signal) -> Signal:
    """A signal as a bank stores it, checked: a URL becomes its hash (as in lookups) and a
    text post its sketch; InvalidInput if the indexes could not load it (see
    :func:`tahaluf.banks.validate_signal`)."""
    kind = registry.find(signal.type)
    if kind is not None and kind.hex_digits is not None and isinstance(signal.value, str):
        converted = kind.convert(signal.value)
        if converted is not None:
            return converted  # a URL: its hash (a hash is checked below)
    row = validate_signal(signal)
    return Signal(signal.type, row.value, dict(signal.extra))


def _renumbered(report: ImportReport, positions: Sequence[int], refused: Sequence[ItemError]) -> ImportReport:
    """``report`` (of the items at ``positions``) with errors at input positions, plus ``refused``."""
    out = ImportReport(report.imported, report.duplicates)
    moved = [ItemError(positions[e.line - 1] if 0 < e.line <= len(positions) else e.line, e.external_id, e.message)
             for e in report.errors]
    for error in sorted([*moved, *refused], key=lambda e: e.line):
        out.add_error(error)
    out.error_count = report.error_count + len(refused)
    return out


class CurationService:
    """A bank's items, for members: every change checked against the caller's roles and
    the bank's owner, and audited."""

    def __init__(self, store: Repository, banks: BankService, audit: AuditService, lookup: LookupService,
                 vocabulary: Any, max_page: int) -> None:
        self.store = store
        self.banks = banks
        self.audit = audit
        self.lookup = lookup
        self.vocabulary = vocabulary
        self.max_page = max_page

    def list_items(
        self, actor: Principal, bank: str, flt: ItemFilter, *, after_id: int = 0, limit: int = 100
    ) -> ItemPage:
        """One page of items (and the ``after`` of the next page, None on the last)."""
        actor.require(Capability.READ)
        limit = max(1, min(limit, self.max_page))
        view = self.banks.get(actor, bank)
        defaults = view.record.default_labels
        labels = [(k, v, _default_matches(defaults, k, v)) for k, v in flt.labels]
        items = self.store.list_items(
            view.record.id, after_id=after_id, limit=limit + 1, labels=labels, added_after=flt.added_after,
            added_before=flt.added_before, enabled=flt.enabled, disputed=flt.disputed,
        )
        more = len(items) > limit
        items = items[:limit]
        disputed = self.lookup.disputed_items({i.id for i in items})
        page = [item_view(i, defaults, disputed=i.id in disputed) for i in items]
        return ItemPage(page, items[-1].id if more else None)

    def get_item(self, actor: Principal, bank: str, external_id: str) -> ItemView:
        actor.require(Capability.READ)
        view = self.banks.get(actor, bank)
        item = self.store.get_item(view.record.id, external_id)
        if item is None:
            raise NotFound(f"bank {bank!r} has no item {external_id!r}")
        disputed = item.id in self.lookup.disputed_items({item.id})
        return item_view(item, view.record.default_labels, disputed=disputed)

    def add_signal_items(
        self, actor: Principal, bank: str, items: Sequence[NewItem], *, source: str = "api",
        vocabulary: Any = None,
    ) -> ImportReport:
        """Add items given as signals (validated; bad ones reported by position)."""
        view = self.banks.for_change(actor, bank)
        prov = Provenance(actor.name, source)
        good: list[NewItem] = []
        positions: list[int] = []
        refused: list[ItemError] = []
        for number, item in enumerate(items, 1):
            try:
                signals = [index_signal(s) for s in item.signals]
            except InvalidInput as exc:
                refused.append(ItemError(number, item.external_id, exc.message))
                continue
            good.append(NewItem(item.external_id, signals, item.labels, item.provenance or prov, item.enabled))
            positions.append(number)
        with self.audit.change():
            report = add_items(self.store, view.record, good, added_by=actor.name,
                               vocabulary=vocabulary or self.vocabulary)
            report = _renumbered(report, positions, refused)
            self.audit.append(actor, "item.add", f"bank:{bank}", {
                "imported": report.imported, "duplicates": report.duplicates, "errors": report.error_count,
                "external_ids": [i.external_id for i in items][:100],
            })
        return report

    def add_content_item(
        self, actor: Principal, bank: str, external_id: str, signals: Sequence[Signal],
        labels: Mapping[str, Any], *, vocabulary: Any = None,
    ) -> ImportReport:
        """Add uploaded content as one item, unless the bank already holds the same
        content (SHA-256) under another external id: then a duplicate naming it."""
        view = self.banks.for_change(actor, bank)
        digest = next((s.value for s in signals if s.type == "sha256"), None)
        if digest is not None:
            earlier = self.store.items_with_signal(view.record.id, "sha256", [digest]).get(digest)
            if earlier is not None and earlier != external_id:
                return ImportReport(duplicates=1, same_content=[(external_id, earlier)])
        return self.add_signal_items(actor, bank, [NewItem(external_id, list(signals), dict(labels))],
                                     source="api upload", vocabulary=vocabulary or self.vocabulary)

    def update_item(
        self, actor: Principal, bank: str, external_id: str, *, labels: Mapping[str, Any] | None = None,
        enabled: bool | None = None, vocabulary: Any = None,
    ) -> ItemView:
        view = self.banks.for_change(actor, bank)
        details: dict[str, Any] = {}
        with self.audit.change():
            if labels is not None:
                set_item_labels(self.store, view.record, external_id, labels,
                                vocabulary=vocabulary or self.vocabulary)
                details["labels"] = dict(labels)
            if enabled is not None:
                set_item_enabled(self.store, view.record, external_id, enabled)
                details["enabled"] = enabled
            if details:
                self.audit.append(actor, "item.update", f"bank:{bank}/item:{external_id}", details)
        return self.get_item(actor, bank, external_id)

    def remove_item(self, actor: Principal, bank: str, external_id: str) -> None:
        view = self.banks.for_change(actor, bank)
        with self.audit.change():
            delete_item(self.store, view.record, external_id)
            self.audit.append(actor, "item.delete", f"bank:{bank}/item:{external_id}")

    # -- the command line (the hub operator: an audit name, banks named by stored key) ----
    def operator_set_enabled(self, actor: str, bank: str, external_id: str, enabled: bool) -> bool:
        """Enable or disable one item; False (and no audit entry) when it already was."""
        with self.audit.change():
            changed = set_item_enabled(self.store, bank, external_id, enabled)
            if changed:
                self.audit.append(actor, "item.update", f"bank:{bank}/item:{external_id}", {"enabled": enabled})
        return changed

    def operator_relabel(self, actor: str, bank: str, external_id: str, labels: Mapping[str, Any], *,
                         vocabulary: Any = None) -> None:
        """Replace one item's own labels (the bank's default labels still apply)."""
        with self.audit.change():
            set_item_labels(self.store, bank, external_id, labels, vocabulary=vocabulary or self.vocabulary)
            self.audit.append(actor, "item.update", f"bank:{bank}/item:{external_id}", {"labels": dict(labels)})

    def operator_remove(self, actor: str, bank: str, external_id: str) -> None:
        """Delete one item and its signals."""
        with self.audit.change():
            delete_item(self.store, get_bank(self.store, bank), external_id)
            self.audit.append(actor, "item.delete", f"bank:{bank}/item:{external_id}")
