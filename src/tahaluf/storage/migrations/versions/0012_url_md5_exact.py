"""The ``url_md5`` signal type (python-threatexchange's URL MD5) is matched
exactly, like ``md5``, ``sha256`` and ``url``: the partial index on exact
signal values is recreated with ``url_md5`` in its predicate.

No data changes: existing rows keep their values; ``url_md5`` rows only
appear once this version stores them.

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None

_NEW = "signal_type IN ('md5', 'sha256', 'url', 'url_md5')"
_OLD = "signal_type IN ('md5', 'sha256', 'url')"


def _recreate(predicate: str) -> None:
    op.drop_index("ix_item_signals_exact", table_name="item_signals")
    where = sa.text(predicate)
    op.create_index(
        "ix_item_signals_exact",
        "item_signals",
        ["signal_type", "value"],
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    _recreate(_NEW)


def downgrade() -> None:
    _recreate(_OLD)
