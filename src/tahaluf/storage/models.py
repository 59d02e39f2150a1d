"""SQLAlchemy 2 ORM models: the tables of a tahaluf store.

The schema itself is created and upgraded by the Alembic migrations in
``tahaluf/storage/migrations``; these models mirror it for typed access.
Timestamps are stored in UTC. See ``docs/storage.md`` for the full layout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["EXACT_TYPES", "EXACT_TYPES_SQL", "Base", "Bank", "BankItem", "ItemSignal", "ChangeLog", "ScanLog", "CHANGE_OPS"]

#: signal types looked up by exact value in SQL; the partial index covers these
EXACT_TYPES = ("md5", "sha256", "url")
EXACT_TYPES_SQL = "signal_type IN ('md5', 'sha256', 'url')"
#: ops recorded in change_log; ``item_id`` NULL means the whole bank
CHANGE_OPS = ("add", "update", "disable", "enable", "delete")

# 64-bit ids on PostgreSQL; SQLite only auto-increments "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


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


class ScanLog(Base):
    """One row per scanned input (by sha256 of its bytes), for ``scan --resume``."""

    __tablename__ = "scan_log"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    scanned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    result: Mapped[dict[str, Any]] = mapped_column(Json)
