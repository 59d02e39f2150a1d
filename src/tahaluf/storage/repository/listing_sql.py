"""Listing a bank's items in SQL: pages filtered by labels, dates, state and disputes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from tahaluf.errors import InvalidInput
from tahaluf.labels import LIST_LABELS
from tahaluf.ports.vocabulary import NEGATIVE_OPINIONS
from tahaluf.storage.models import BankItem, Feedback, table
from tahaluf.storage.repository.base import ItemRecord
from tahaluf.storage.repository.rows import item_records
from tahaluf.storage.repository.sql_base import SqlBase

__all__ = ["ListingSql", "disputed_clause"]

_LABEL_KEY = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_items = table(BankItem)
_feedback = table(Feedback)


def disputed_clause(item_id_column: object) -> object:
    """A SQL condition true for disputed items (``item_id_column`` is the item id)."""
    return item_id_column.in_(  # type: ignore[attr-defined]
        select(_feedback.c.item_id).where(_feedback.c.opinion.in_(NEGATIVE_OPINIONS))
    )


class ListingSql(SqlBase):
    """Filtered pages of bank items, for :class:`~tahaluf.storage.Store`."""

    def list_items(
        self,
        bank_id: int,
        *,
        after_id: int = 0,
        limit: int = 100,
        labels: Sequence[tuple[str, str, bool]] = (),
        added_after: datetime | None = None,
        added_before: datetime | None = None,
        enabled: bool | None = None,
        disputed: bool | None = None,
    ) -> list[ItemRecord]:
        """One page of a bank's items in id order, filtered.

        ``labels`` are ``(key, value, default_matches)``: an item matches when
        its own label ``key`` is or contains ``value``, or, when
        ``default_matches`` (the bank's default label does), when it adds
        nothing of its own that replaces it (list labels are united).
        """
        query = select(_items).where(_items.c.bank_id == bank_id, _items.c.id > after_id)
        for n, (key, value, default_matches) in enumerate(labels):
            clause = self._label_contains(key, f"lv{n}")
            if default_matches and key not in LIST_LABELS:
                clause = f"({clause} OR NOT {self._label_present(key)})"
            if not (default_matches and key in LIST_LABELS):
                query = query.where(text(clause).bindparams(**{f"lv{n}": value}))
        if added_after is not None:
            query = query.where(_items.c.added_at >= added_after)
        if added_before is not None:
            query = query.where(_items.c.added_at < added_before)
        if enabled is not None:
            query = query.where(_items.c.enabled.is_(enabled))
        if disputed is not None:
            in_dispute: Any = disputed_clause(_items.c.id)
            query = query.where(in_dispute if disputed else ~in_dispute)
        with self._read() as conn:
            rows = conn.execute(query.order_by(_items.c.id).limit(limit)).all()
            return item_records(conn, rows)

    def _label_contains(self, key: str, param: str) -> str:
        """SQL true when the item's own label ``key`` is or contains ``:param``."""
        if not _LABEL_KEY.fullmatch(key):
            raise InvalidInput(f"not a label name: {key!r}")
        if self.dialect == "postgresql":
            return f"((bank_items.labels -> '{key}') ? :{param})"
        return f"EXISTS (SELECT 1 FROM json_each(bank_items.labels, '$.{key}') AS je WHERE je.value = :{param})"

    def _label_present(self, key: str) -> str:
        if self.dialect == "postgresql":
            return f"(bank_items.labels ? '{key}')"
        return f"(json_type(bank_items.labels, '$.{key}') IS NOT NULL)"
