"""Audit log: each entry's details stored as the canonical JSON text its hash
covers, and heads of the chain signed with the hub's key (kept outside the
database; only signatures and public keys are stored here).

Existing entries keep ``details_text`` empty and verify as before (legacy
format); entries written from now on hash the stored text.

Revision ID: 0005
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("details_text", sa.Text(), nullable=True))
    op.create_table(
        "audit_signatures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_signatures_entry", "audit_signatures", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_signatures_entry", "audit_signatures")
    op.drop_table("audit_signatures")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("details_text")
