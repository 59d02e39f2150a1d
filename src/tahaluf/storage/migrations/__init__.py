"""Alembic migrations of the tahaluf store (run by :func:`tahaluf.storage.open_store`)."""
