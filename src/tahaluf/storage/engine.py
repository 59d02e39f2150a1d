"""Engines, migrations and error translation: the I/O boundary of storage.

* :func:`resolve_url` turns ``None`` into the embedded default (a SQLite file
  in the user's data directory) and maps plain ``postgresql://`` URLs to the
  psycopg 3 driver.
* :func:`create_engine_for` sets SQLite up for a desktop tool used by several
  processes: WAL journal, foreign keys on, a busy timeout, and write
  transactions that take the write lock up front (``BEGIN IMMEDIATE``) so
  that a busy database waits for the timeout instead of failing half-way.
* :func:`migrate` applies the Alembic migrations shipped in
  ``tahaluf/storage/migrations`` (no alembic.ini needed).
* :func:`translate_errors` turns SQLAlchemy/driver exceptions into
  :class:`~tahaluf.errors.StorageError` with a message a user can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from tahaluf.errors import StorageError

__all__ = [
    "MIGRATIONS_DIR",
    "WRITE",
    "default_url",
    "resolve_url",
    "describe_url",
    "sqlite_path",
    "create_engine_for",
    "migrate",
    "translate_errors",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: execution option marking a connection whose transactions will write
WRITE = "tahaluf_write"


def default_url() -> str:
    """``sqlite:///<user data dir>/tahaluf.db`` (the directory is created on open)."""
    path = Path(platformdirs.user_data_dir("tahaluf")) / "tahaluf.db"
    return f"sqlite:///{path}"


def resolve_url(url: str | URL | None) -> URL:
    """Parse ``url`` (``None`` = the embedded default) and pick our drivers."""
    try:
        parsed = make_url(url if url is not None else default_url())
    except ArgumentError as exc:
        raise StorageError(f"not a database URL: {url!r} (e.g. sqlite:///path/to/tahaluf.db)") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe_url(url: URL) -> str:
    """A name for the database in messages: the file for SQLite, else the URL without password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def create_engine_for(url: URL, *, busy_timeout_s: float = 5.0, create_dirs: bool = False) -> Engine:
    """Create an engine for ``url`` with tahaluf's connection settings.

    An SQLite file whose folder does not exist is refused (a mistyped path
    must not become a new, empty database) unless ``create_dirs`` or the file
    is the embedded default, whose folder is created.
    """
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StorageError(f"unsupported database URL {describe_url(url)}: {exc}") from exc
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if path is None:
        kwargs["poolclass"] = StaticPool
    else:
        _check_parent_dir(path, create=create_dirs or url == resolve_url(None))
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s}, **kwargs)
    _configure_sqlite(engine, busy_timeout_ms=int(busy_timeout_s * 1000))
    return engine


def sqlite_path(url: URL) -> Path | None:
    """The file of an SQLite URL (``None`` for an in-memory database).

    With ``?uri=true`` the database is an SQLite URI (``file:path?mode=...``):
    its path is the URI's, without the ``file:`` scheme and the URI's options.
    """
    database = url.database or ""
    if url.query.get("uri") in ("true", "1", "True"):
        parts = urlsplit(database)
        if parts.scheme == "file":
            if "mode=memory" in parts.query or parts.path in ("", ":memory:"):
                return None
            return Path(unquote(parts.path))
    if database in ("", ":memory:"):
        return None
    return Path(database)


def _check_parent_dir(path: Path, *, create: bool) -> None:
    folder = path.parent
    if folder.is_dir():
        return
    if not create:
        raise StorageError(
            f"the folder of database {path} does not exist: check the path, "
            "or create the folder (`tahaluf --create ...` does)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory for {path}: {exc.strerror}") from exc


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (the "begin" hook below) issue BEGIN, not pysqlite.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            # 128 MiB page cache (used only as pages are touched): bulk imports
            # insert into b-trees larger than the 2 MiB default
            cur.execute("PRAGMA cache_size = -131072")
            cur.execute("PRAGMA mmap_size = 268435456")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_message(text: str, where: str, exc: BaseException) -> str | None:
    if "database is locked" in text or "database table is locked" in text:
        return (
            f"database is locked: another process is using {where}; "
            "wait for it to finish (or raise the busy timeout) and retry"
        )
    if "database or disk is full" in text:
        return f"disk full: cannot write to {where}; free some space and retry"
    if "readonly database" in text or "read-only" in text:
        return f"database {where} is read-only: check its file permissions"
    if "unable to open database file" in text:
        return f"cannot open database {where}: check that the path exists and is writable"
    if "file is not a database" in text:
        return f"{where} is not a SQLite database"
    return None


def _message(exc: SQLAlchemyError, where: str) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    first = text.splitlines()[0] if text else type(orig).__name__
    known = _sqlite_message(text, where, exc)
    if known is not None:
        return known
    if "No space left on device" in text or "could not extend file" in text:
        return f"disk full: cannot write to {where}; free some space and retry"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated or "connection" in first.lower():
        return f"cannot use database {where}: {first}"
    return f"database error on {where}: {first}"


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors as StorageError with an actionable message."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StorageError(_message(exc, where)) from exc


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, where: str) -> None:
    """Bring the schema up to the newest migration (a no-op when it is current)."""
    cfg = _alembic_config()
    script = ScriptDirectory.from_config(cfg)
    heads = set(script.get_heads())
    known = {rev.revision for rev in script.walk_revisions()}
    with translate_errors(where):
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            conn.rollback()
        if current == heads:
            return
        unknown = current - known
        if unknown:
            raise StorageError(
                f"database {where} has schema revision {', '.join(sorted(unknown))}, "
                "which this version of tahaluf does not know: upgrade tahaluf"
            )
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise StorageError(f"cannot migrate database {where}: {exc}") from exc
