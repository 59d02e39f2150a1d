"""The coalition hub: members, API keys, bank sharing, settings, audit log,
submissions, review tasks and decisions, feedback, feeds and webhooks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _member_fk(name: str = "member_id", *, nullable: bool = False, ondelete: str = "CASCADE") -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("members.id", ondelete=ondelete), nullable=nullable)


def upgrade() -> None:
    # banks made before the hub existed belong to the operator and are visible to all
    with op.batch_alter_table("banks") as batch:
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=False, server_default="all"))
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("roles", Json, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("name", name="uq_members_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        _member_fk(),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("revoked_at", Ts, nullable=True),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_hash"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "bank_shares",
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "hub_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", Json, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_table(
        "audit_log",
        _id(),
        sa.Column("at", Ts, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "submissions",
        _id(),
        _member_fk(nullable=True, ondelete="SET NULL"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("signals", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "review_tasks",
        _id(),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column(
            "submission_id", BigId, sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=True
        ),
        _member_fk(nullable=True, ondelete="SET NULL"),
        sa.Column("dedupe_key", sa.String(128), nullable=True),
        sa.Column("signals", Json, nullable=False),
        sa.Column("matches", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _member_fk("claimed_by", nullable=True, ondelete="SET NULL"),
        sa.Column("claim_expires_at", Ts, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_review_tasks_dedupe"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_review_tasks_status", "review_tasks", ["status", "id"])
    op.create_table(
        "review_decisions",
        _id(),
        sa.Column("task_id", BigId, sa.ForeignKey("review_tasks.id", ondelete="CASCADE"), nullable=False),
        _member_fk(nullable=True, ondelete="SET NULL"),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("bank", sa.String(128), nullable=True),
        sa.Column("decided_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_review_decisions_task", "review_decisions", ["task_id"])
    op.create_table(
        "feedback",
        _id(),
        sa.Column("item_id", BigId, sa.ForeignKey("bank_items.id", ondelete="CASCADE"), nullable=False),
        _member_fk(),
        sa.Column("opinion", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("item_id", "member_id", name="uq_feedback_item_member"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "feed",
        _id(),
        _member_fk(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_feed_member", "feed", ["member_id", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        _member_fk(),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("events", Json, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_deliveries",
        _id(),
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Ts, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("delivered_at", Ts, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "webhook_deliveries", "webhooks", "feed", "feedback", "review_decisions", "review_tasks",
        "submissions", "audit_log", "hub_settings", "bank_shares", "api_keys", "members",
    ):
        op.drop_table(table)
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("visibility")
