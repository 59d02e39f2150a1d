"""The database's identity: a random id written when the schema is created (or upgraded).

Index snapshots are cached outside the database (one folder per URL) and
record this id: a different database at the same URL (recreated, replaced,
or a PostgreSQL schema dropped and made again) has another id, so its
snapshot is rebuilt instead of answering from another database's index.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "database_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("store_meta")
