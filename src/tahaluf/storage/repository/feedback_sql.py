"""Feedback on bank items: storage queries.

An item is *disputed* when members disagree about it: the bank's owner
vouches for every item it added (an implicit ``agree``), so one ``disagree``
or ``false_positive`` from any member is a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from tahaluf.storage.models import Feedback
from tahaluf.storage.repository.sql import Store

__all__ = ["NEGATIVE_OPINIONS", "OPINIONS", "disputed_among", "disputed_clause"]

OPINIONS = ("agree", "disagree", "false_positive")
NEGATIVE_OPINIONS = ("disagree", "false_positive")
_feedback = Feedback.__table__


def disputed_clause(item_id_column: object) -> object:
    """A SQL condition true for disputed items (``item_id_column`` is the item id)."""
    return item_id_column.in_(  # type: ignore[attr-defined]
        select(_feedback.c.item_id).where(_feedback.c.opinion.in_(NEGATIVE_OPINIONS))
    )


def disputed_among(store: Store, item_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(item_ids))
    out: set[int] = set()
    with store.connection() as conn:
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            rows = conn.execute(
                select(_feedback.c.item_id)
                .where(_feedback.c.item_id.in_(part), _feedback.c.opinion.in_(NEGATIVE_OPINIONS))
                .distinct()
            ).all()
            out.update(r[0] for r in rows)
    return out
