"""Accounts for organisations: several API keys per member, each with a label,
its own roles, who made it and when it was last used.

``api_keys.roles`` NULL means "all the roles of its organisation" (and follows
their changes); every key that existed before this revision is such a key, so
each member's existing key keeps exactly the member's roles. Named users with
passwords (the web interface) will be a ``users`` table beside this one, with
the same ``member_id`` / ``roles`` shape; a key may then name the user who made
it (see docs/hub.md, "Members, keys and roles").

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("label", sa.String(64), nullable=True))
        batch.add_column(sa.Column("roles", Json, nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(256), nullable=True))
        batch.add_column(sa.Column("last_used_at", Ts, nullable=True))
    op.create_index("ix_api_keys_member", "api_keys", ["member_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_member", "api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("created_by")
        batch.drop_column("roles")
        batch.drop_column("label")
