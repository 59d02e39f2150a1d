"""Bank items through the hub: listing with filters, adding signals or content,
label and enabled changes, deletion. Every change is checked against the
caller's roles and the bank's owner, and written to the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.banks import (
    ImportReport,
    ItemError,
    NewItem,
    Provenance,
    add_items,
    delete_item,
    set_item_enabled,
    set_item_labels,
    validate_signal,
)
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.labels import LIST_LABELS, merge_labels
from tahaluf.services.hub import Hub
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal
from tahaluf.storage import ItemRecord

__all__ = ["ItemFilter", "index_signal", "item_json", "list_items", "get_item", "add_signal_items", "update_item",
           "remove_item"]

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


def item_json(item: ItemRecord, bank_defaults: Mapping[str, Any], *, disputed: bool | None = None,
              with_signals: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "item_id": item.id,
        "external_id": item.external_id,
        "labels": merge_labels(bank_defaults, item.labels),
        "own_labels": item.labels,
        "enabled": item.enabled,
        "added_by": item.added_by,
        "source": item.source,
        "added_at": item.added_at.isoformat(),
    }
    if disputed is not None:
        out["disputed"] = disputed
    if with_signals:
        out["signals"] = [{"type": s.signal_type, "value": s.value} for s in item.signals]
    return out


def _default_matches(defaults: Mapping[str, Any], key: str, value: str) -> bool:
    have = defaults.get(key)
    if key in LIST_LABELS and isinstance(have, list):
        return value in have
    return have == value


def list_items(
    hub: Hub, actor: Principal, bank: str, flt: ItemFilter, *, after_id: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of items (and the ``after`` of the next page, None on the last)."""
    actor.require(Capability.READ)
    limit = max(1, min(limit, hub.config.max_page))
    view = hub.bank(actor, bank)
    defaults = view.record.default_labels
    labels = [(k, v, _default_matches(defaults, k, v)) for k, v in flt.labels]
    items = hub.store.list_items(
        view.record.id, after_id=after_id, limit=limit + 1, labels=labels, added_after=flt.added_after,
        added_before=flt.added_before, enabled=flt.enabled, disputed=flt.disputed,
    )
    more = len(items) > limit
    items = items[:limit]
    disputed = hub.disputed_items({i.id for i in items})
    page = [item_json(i, defaults, disputed=i.id in disputed) for i in items]
    return page, (items[-1].id if more else None)


def get_item(hub: Hub, actor: Principal, bank: str, external_id: str) -> dict[str, Any]:
    actor.require(Capability.READ)
    view = hub.bank(actor, bank)
    item = hub.store.get_item(view.record.id, external_id)
    if item is None:
        raise NotFound(f"bank {bank!r} has no item {external_id!r}")
    disputed = item.id in hub.disputed_items({item.id})
    return item_json(item, view.record.default_labels, disputed=disputed)


def add_signal_items(
    hub: Hub, actor: Principal, bank: str, items: Sequence[NewItem], *, source: str = "api",
    vocabulary: Any = None,
) -> ImportReport:
    """Add items given as signals (validated; bad ones reported by position)."""
    view = hub.bank_for_change(actor, bank)
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
    with hub.change():
        report = add_items(hub.store, view.record, good, added_by=actor.name, vocabulary=vocabulary)
        report = _renumbered(report, positions, refused)
        hub.audit(actor, "item.add", f"bank:{bank}", {
            "imported": report.imported, "duplicates": report.duplicates, "errors": report.error_count,
            "external_ids": [i.external_id for i in items][:100],
        })
    return report


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


def add_content_item(
    hub: Hub, actor: Principal, bank: str, external_id: str, signals: Sequence[Signal],
    labels: Mapping[str, Any], *, vocabulary: Any = None,
) -> ImportReport:
    """Add uploaded content as one item, unless the bank already holds the same
    content (SHA-256) under another external id: then a duplicate naming it."""
    view = hub.bank_for_change(actor, bank)
    digest = next((s.value for s in signals if s.type == "sha256"), None)
    if digest is not None:
        earlier = hub.store.items_with_signal(view.record.id, "sha256", [digest]).get(digest)
        if earlier is not None and earlier != external_id:
            return ImportReport(duplicates=1, same_content=[(external_id, earlier)])
    return add_signal_items(hub, actor, bank, [NewItem(external_id, list(signals), dict(labels))],
                            source="api upload", vocabulary=vocabulary)


def update_item(
    hub: Hub, actor: Principal, bank: str, external_id: str, *, labels: Mapping[str, Any] | None = None,
    enabled: bool | None = None, vocabulary: Any = None,
) -> dict[str, Any]:
    view = hub.bank_for_change(actor, bank)
    details: dict[str, Any] = {}
    with hub.change():
        if labels is not None:
            set_item_labels(hub.store, view.record, external_id, labels, vocabulary=vocabulary)
            details["labels"] = dict(labels)
        if enabled is not None:
            set_item_enabled(hub.store, view.record, external_id, enabled)
            details["enabled"] = enabled
        if details:
            hub.audit(actor, "item.update", f"bank:{bank}/item:{external_id}", details)
    return get_item(hub, actor, bank, external_id)


def remove_item(hub: Hub, actor: Principal, bank: str, external_id: str) -> None:
    view = hub.bank_for_change(actor, bank)
    with hub.change():
        delete_item(hub.store, view.record, external_id)
        hub.audit(actor, "item.delete", f"bank:{bank}/item:{external_id}")
