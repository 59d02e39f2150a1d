"""The SQLAlchemy implementation of the bank repository (SQLite and PostgreSQL).

:class:`Store` is assembled from one part per responsibility, all sharing the
connections and nested transactions of :class:`~.sql_base.SqlBase`:
banks and items (``banks_sql``), filtered listings (``listing_sql``), signals
and the change log (``signals_sql``), scan jobs and previews (``scanlog``).
"""

from __future__ import annotations

from tahaluf.storage.repository.banks_sql import BanksSql
from tahaluf.storage.repository.listing_sql import ListingSql
from tahaluf.storage.repository.scanlog import ScanLogMixin
from tahaluf.storage.repository.signals_sql import SignalsSql

__all__ = ["Store"]


class Store(BanksSql, ListingSql, SignalsSql, ScanLogMixin):
    """A tahaluf database. Create with :func:`tahaluf.storage.open_store`."""
