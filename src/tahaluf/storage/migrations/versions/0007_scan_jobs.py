"""Scan jobs and bank item previews.

``scan_results`` replaces ``scan_log``: the results of ``tahaluf scan --job
NAME`` (``--resume`` is the job ``default``), one row per input and job, so
a job can be resumed, listed, cleared and its report regenerated. The rows of
``scan_log`` move to the job ``default`` (their results were not kept:
``results`` is NULL, which still marks the input as scanned).

``item_previews``: a small JPEG thumbnail or the text of a bank item, stored
by tahaluf itself when it hashed the item's content (``bank add``), never
from imported data; the HTML report shows them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_results",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("scanned_at", Ts, nullable=False),
        sa.Column("results", Json, nullable=True),
        sa.UniqueConstraint("job", "sha256", name="uq_scan_results_job_sha256"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_scan_results_job_id", "scan_results", ["job", "id"])
    op.execute(
        "INSERT INTO scan_results (job, sha256, scanned_at, results) "
        "SELECT 'default', sha256, scanned_at, NULL FROM scan_log ORDER BY scanned_at, sha256"
    )
    op.drop_table("scan_log")
    op.create_table(
        "item_previews",
        sa.Column("item_id", BigId, sa.ForeignKey("bank_items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("item_previews")
    op.create_table(
        "scan_log",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("scanned_at", Ts, nullable=False),
        sa.Column("result", Json, nullable=False),
    )
    op.execute(
        "INSERT INTO scan_log (sha256, scanned_at, result) "
        "SELECT sha256, MAX(scanned_at), '{}' FROM scan_results GROUP BY sha256"
    )
    op.drop_index("ix_scan_results_job_id", "scan_results")
    op.drop_table("scan_results")
