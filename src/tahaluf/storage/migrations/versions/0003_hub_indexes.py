"""Indexes for the hub's listings: deliveries by webhook, feedback by member.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])
    op.create_index("ix_feedback_member", "feedback", ["member_id"])
    op.create_index("ix_submissions_member", "submissions", ["member_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_submissions_member", "submissions")
    op.drop_index("ix_feedback_member", "feedback")
    op.drop_index("ix_webhook_deliveries_webhook", "webhook_deliveries")
