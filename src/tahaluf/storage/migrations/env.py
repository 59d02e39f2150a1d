"""Alembic environment: run only programmatically, on a connection we pass in.

:func:`tahaluf.storage.engine.migrate` puts an open SQLAlchemy connection in
``config.attributes["connection"]``; there is no alembic.ini and no offline
(SQL script) mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from tahaluf.storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - guard against running `alembic` by hand
    raise RuntimeError("tahaluf migrations run via tahaluf.storage.open_store(), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Serialise concurrent first starts against the same database.
        connection.execute(text("SELECT pg_advisory_xact_lock(7270661)"))
    context.run_migrations()
