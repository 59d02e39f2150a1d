"""SQLAlchemy 2 ORM models: the tables of a tahaluf store.

The schema itself is created and upgraded by the Alembic migrations in
``tahaluf/storage/migrations``; these models mirror it for typed access.
Timestamps are stored in UTC (:class:`UtcDateTime`) and read back as aware
UTC datetimes. See ``docs/storage.md`` for the full layout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Table,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tahaluf.ports.vocabulary import CHANGE_OPS, EXACT_TYPES, VISIBILITIES

__all__ = [
    "EXACT_TYPES", "EXACT_TYPES_SQL", "CHANGE_OPS", "VISIBILITIES", "UtcDateTime", "table",
    "Base", "Bank", "BankItem", "ItemSignal", "ChangeLog", "ScanJobResult", "ItemPreview", "StoreMeta",
    "Member", "ApiKey", "BankShare", "HubSetting", "AuditEntry", "Submission", "ReviewTask",
    "ReviewDecision", "Feedback", "FeedEntry", "Webhook", "WebhookDelivery", "EvidenceBlob", "SubmissionEvidence",
]

#: the partial index over exact-match signal types (``EXACT_TYPES``, from the vocabulary)
EXACT_TYPES_SQL = "signal_type IN ({})".format(", ".join(f"'{t}'" for t in EXACT_TYPES))

# 64-bit ids on PostgreSQL; SQLite only auto-increments "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC on every backend and read back as an aware UTC datetime.

    PostgreSQL's ``timestamptz`` keeps instants, but SQLite stores a datetime as text
    without its offset: ``12:00+05:00`` would be written (and compared) as ``12:00``.
    So every value is converted to UTC on the way in (a naive one is taken as UTC, as
    tahaluf always wrote them), which also makes bound parameters in comparisons
    (``added_at >= :after``) instants in UTC; values read back get ``tzinfo=UTC``
    (SQLite's naive text, including rows written by earlier versions, is UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime is needed, not {type(value).__name__}")
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


def table(model: type[Base]) -> Table:
    """The Core table of a model, typed as one (SQLAlchemy declares ``__table__`` a FromClause)."""
    return cast(Table, model.__table__)


class Bank(Base):
    __tablename__ = "banks"
    __table_args__ = (
        CheckConstraint("kind IN ('known', 'allow')", name="ck_banks_kind"),
        UniqueConstraint("name", name="uq_banks_name"),
        # ids are never reused, so an index lagging behind the change log
        # cannot confuse a new bank or item with a deleted one
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    default_labels: Mapped[dict[str, Any]] = mapped_column(Json)
    signal_types: Mapped[list[str]] = mapped_column(Json)
    pdq_max_distance: Mapped[int] = mapped_column(Integer, default=31)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: ``private`` (owner only), ``members`` (owner + bank_shares), ``all``
    visibility: Mapped[str] = mapped_column(String(16), default="all", server_default="all")


class BankItem(Base):
    __tablename__ = "bank_items"
    __table_args__ = (
        UniqueConstraint("bank_id", "external_id", name="uq_bank_items_bank_external"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(1024))
    labels: Mapped[dict[str, Any]] = mapped_column(Json)
    added_by: Mapped[str] = mapped_column(String(256))
    source: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class ItemSignal(Base):
    __tablename__ = "item_signals"
    __table_args__ = (
        Index("ix_item_signals_item_id", "item_id"),
        # streaming one signal type in id order (index building)
        Index("ix_item_signals_type_id", "signal_type", "id"),
        # exact lookups, only for the exact-match types: PDQ, text and vPDQ
        # are matched by their indexes, and keeping them out makes bulk
        # imports fast and keeps long text values out of the b-tree
        Index(
            "ix_item_signals_exact",
            "signal_type",
            "value",
            sqlite_where=text(EXACT_TYPES_SQL),
            postgresql_where=text(EXACT_TYPES_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_items.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    #: the 32 raw bytes of a PDQ hash, for loading an index without hex parsing
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)


class ChangeLog(Base):
    """Append-only log that indexes (and the future hub) follow with a cursor.

    No foreign keys: entries must outlive the banks and items they describe.
    """

    __tablename__ = "change_log"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    op: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScanJobResult(Base):
    """The results of one input (by sha256 of its bytes) in a named scan job (migration 0007).

    ``results`` NULL: scanned before results were kept (rows of the old ``scan_log``).
    """

    __tablename__ = "scan_results"
    __table_args__ = (
        UniqueConstraint("job", "sha256", name="uq_scan_results_job_sha256"),
        Index("ix_scan_results_job_id", "job", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    scanned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)


class ItemPreview(Base):
    """A bank item's thumbnail (JPEG) or text, stored by tahaluf when it hashed the content."""

    __tablename__ = "item_previews"

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_items.id", ondelete="CASCADE"), primary_key=True)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoreMeta(Base):
    """Facts about the database itself (migration 0006): ``database_id``, a random hex id
    written when the schema was created, that index snapshots are tied to."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


# -- the coalition hub (migration 0002) ---------------------------------------


def _member_fk(*, nullable: bool = False, ondelete: str = "CASCADE") -> Any:
    return mapped_column(ForeignKey("members.id", ondelete=ondelete), nullable=nullable)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("name", name="uq_members_name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    roles: Mapped[list[str]] = mapped_column(Json)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """An API key, stored only as the SHA-256 of the key (keys are 256-bit random)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("key_hash", name="uq_api_keys_hash"),
        Index("ix_api_keys_member", "member_id", "id"),  # migration 0011
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = _member_fk()
    key_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # -- migration 0011: several keys per organisation --
    #: what the key is for (e.g. "upload pipeline")
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the key's own roles, a subset of its member's; NULL: all the member's roles
    roles: Mapped[list[str] | None] = mapped_column(Json, nullable=True)
    #: the audit actor that made the key
    created_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: when the key last authenticated a request (updated at most once a minute)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BankShare(Base):
    __tablename__ = "bank_shares"

    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)


class HubSetting(Base):
    __tablename__ = "hub_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Append-only, hash-chained: ``hash = sha256(prev_hash + canonical entry)``."""

    __tablename__ = "audit_log"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(1024))
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: the canonical JSON text of ``details`` that ``hash`` covers (None: written before 0005)
    details_text: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditSignature(Base):
    """A head of the audit chain signed with the hub's Ed25519 key (the key itself
    is never stored in the database; signatures and public keys are public)."""

    __tablename__ = "audit_signatures"
    __table_args__ = (Index("ix_audit_signatures_entry", "entry_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigId)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_member", "member_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int | None] = _member_fk(nullable=True, ondelete="SET NULL")
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReviewTask(Base):
    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_review_tasks_dedupe"),
        Index("ix_review_tasks_status", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("submissions.id", ondelete="CASCADE"), nullable=True
    )
    member_id: Mapped[int | None] = _member_fk(nullable=True, ondelete="SET NULL")
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[int | None] = _member_fk(nullable=True, ondelete="SET NULL")
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReviewDecision(Base):
    __tablename__ = "review_decisions"
    __table_args__ = (Index("ix_review_decisions_task", "task_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("review_tasks.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = _member_fk(nullable=True, ondelete="SET NULL")
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]] = mapped_column(Json)
    bank: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("item_id", "member_id", name="uq_feedback_item_member"),
        Index("ix_feedback_member", "member_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_items.id", ondelete="CASCADE"))
    member_id: Mapped[int] = _member_fk()
    opinion: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedEntry(Base):
    """A notification for one member (e.g. feedback disputing one of its items)."""

    __tablename__ = "feed"
    __table_args__ = (Index("ix_feed_member", "member_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = _member_fk()
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = _member_fk()
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(Json)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """The outbox: one row per event per webhook, retried with back-off until delivered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# -- the evidence store (migration 0013) ---------------------------------------


class EvidenceBlob(Base):
    """A sealed blob in the evidence folder, addressed by the SHA-256 of its plaintext."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SubmissionEvidence(Base):
    """A submission's evidence, its retention and legal hold (``purged_at``: the blob link is gone)."""

    __tablename__ = "submission_evidence"
    __table_args__ = (
        Index("ix_submission_evidence_sha", "sha256"),
        Index("ix_submission_evidence_retain", "retain_until"),
    )

    submission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime)
    hold: Mapped[bool] = mapped_column(Boolean)
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    hold_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    hold_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
