"""The evidence store: submitted media kept, sealed, for review.

``evidence_blobs``: one row per sealed blob in the evidence folder (its SHA-256
address, size, media type and the id of the key it is sealed with; the key
itself never enters the database). ``submission_evidence``: a submission's
link to its blob, with its retention (``retain_until``), legal hold (flag,
reason, who, when) and ``purged_at`` once the purge removed it. The link
keeps no foreign key to the blob row: a purged link outlives its blob.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "submission_evidence",
        sa.Column("submission_id", BigId, sa.ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("retain_until", Ts, nullable=False),
        sa.Column("hold", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_by", sa.String(256), nullable=True),
        sa.Column("hold_at", Ts, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("purged_at", Ts, nullable=True),
    )
    op.create_index("ix_submission_evidence_sha", "submission_evidence", ["sha256"])
    op.create_index("ix_submission_evidence_retain", "submission_evidence", ["retain_until"])


def downgrade() -> None:
    op.drop_index("ix_submission_evidence_retain", "submission_evidence")
    op.drop_index("ix_submission_evidence_sha", "submission_evidence")
    op.drop_table("submission_evidence")
    op.drop_table("evidence_blobs")
