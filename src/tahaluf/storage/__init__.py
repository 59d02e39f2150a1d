"""Storage: SQLAlchemy 2 models, Alembic migrations and the repository.

:func:`open_store` is the entry point: it resolves the URL (``None`` = the
embedded SQLite default in the user's data directory), applies pending
migrations and returns a :class:`Store`, which implements :class:`Repository`
(the port in :mod:`tahaluf.ports.banks`). ``tahaluf.storage.repository``
holds the SQL implementations of every port, ``tahaluf.storage.memory`` the
in-memory ones; :mod:`tahaluf.bootstrap` bundles either.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from tahaluf.storage.engine import create_engine_for, default_url, describe_url, migrate, resolve_url
from tahaluf.storage.repository import (
    AddOutcome,
    BankRecord,
    ChangeRecord,
    ItemRecord,
    ItemRow,
    NewBank,
    PdqBatch,
    Repository,
    ItemPreviewRecord,
    ScanJobRecord,
    ScanRecord,
    SignalRecord,
    SignalRow,
    Store,
)

__all__ = [
    "open_store",
    "default_url",
    "resolve_url",
    "AddOutcome",
    "BankRecord",
    "ChangeRecord",
    "ItemRecord",
    "ItemRow",
    "NewBank",
    "PdqBatch",
    "Repository",
    "ItemPreviewRecord",
    "ScanJobRecord",
    "ScanRecord",
    "SignalRecord",
    "SignalRow",
    "Store",
]


def open_store(url: str | URL | None = None, *, busy_timeout_s: float = 5.0, create_dirs: bool = False) -> Store:
    """Open (creating and migrating if needed) the database at ``url``.

    ``url`` is any SQLAlchemy URL; ``postgresql://`` is mapped to psycopg 3.
    An SQLite file in a folder that does not exist is refused unless
    ``create_dirs`` (or it is the default file, whose folder is created).
    Raises StorageError when the database cannot be opened or migrated.
    """
    resolved = resolve_url(url)
    engine = create_engine_for(resolved, busy_timeout_s=busy_timeout_s, create_dirs=create_dirs)
    try:
        migrate(engine, describe_url(resolved))
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, resolved)
