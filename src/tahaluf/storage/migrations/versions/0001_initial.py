"""Initial schema: banks, bank_items, item_signals, change_log, scan_log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("default_labels", Json, nullable=False),
        sa.Column("signal_types", Json, nullable=False),
        sa.Column("pdq_max_distance", sa.Integer(), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.CheckConstraint("kind IN ('known', 'allow')", name="ck_banks_kind"),
        sa.UniqueConstraint("name", name="uq_banks_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "bank_items",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("external_id", sa.String(1024), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("added_by", sa.String(256), nullable=False),
        sa.Column("source", sa.String(2048), nullable=True),
        sa.Column("added_at", Ts, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("bank_id", "external_id", name="uq_bank_items_bank_external"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "item_signals",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "item_id", BigId, sa.ForeignKey("bank_items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("signal_type", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("pdq", sa.LargeBinary(32), nullable=True),
        sa.Column("extra", Json, nullable=True),
    )
    op.create_index("ix_item_signals_item_id", "item_signals", ["item_id"])
    op.create_index("ix_item_signals_type_id", "item_signals", ["signal_type", "id"])
    exact = sa.text("signal_type IN ('md5', 'sha256', 'url')")
    op.create_index(
        "ix_item_signals_exact",
        "item_signals",
        ["signal_type", "value"],
        sqlite_where=exact,
        postgresql_where=exact,
    )
    op.create_table(
        "change_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "scan_log",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("scanned_at", Ts, nullable=False),
        sa.Column("result", Json, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scan_log")
    op.drop_table("change_log")
    op.drop_table("item_signals")
    op.drop_table("bank_items")
    op.drop_table("banks")
