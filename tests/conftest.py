"""Shared fixtures: paths to the reference data and the demo content."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from refdata import CI, FULL, REFERENCE

ROOT = Path(__file__).resolve().parents[1]
#: the PostgreSQL server of this machine (trust auth); each test gets its own schema
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True, scope="session")
def _audit_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The hub's audit-signing key of this test run (never the user's data folder);
    servers and CLI processes the tests start inherit it."""
    old = os.environ.get("TAHALUF_AUDIT_KEY_FILE")
    os.environ["TAHALUF_AUDIT_KEY_FILE"] = str(tmp_path_factory.mktemp("audit-key") / "audit-signing.key")
    yield
    if old is None:
        os.environ.pop("TAHALUF_AUDIT_KEY_FILE", None)
    else:
        os.environ["TAHALUF_AUDIT_KEY_FILE"] = old


@pytest.fixture(autouse=True, scope="session")
def _evidence_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The evidence folder and key file of this test run (never the user's data folder); servers
    and CLI processes the tests start inherit them. Tests of the purge use folders of their own."""
    where = tmp_path_factory.mktemp("evidence")
    old = {k: os.environ.get(k) for k in ("TAHALUF_EVIDENCE_DIR", "TAHALUF_EVIDENCE_KEY_FILE")}
    os.environ["TAHALUF_EVIDENCE_DIR"] = str(where / "blobs")
    os.environ["TAHALUF_EVIDENCE_KEY_FILE"] = str(where / "evidence.keys")
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pg_schema_url() -> Iterator[str]:
    """A URL on a fresh PostgreSQL schema, dropped afterwards.

    Skips when the server is unreachable, except under CI=true, where a
    PostgreSQL test must run: there it fails instead.
    """
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    schema = f"tahaluf_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tahaluf.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def store(db_url: str):  # noqa: ANN201 - tahaluf.storage.Store
    from tahaluf.storage import open_store

    with open_store(db_url) as s:
        yield s


def pytest_configure(config: pytest.Config) -> None:
    if CI and not FULL.is_dir():
        raise pytest.UsageError(
            f"CI=true needs the full reference data at {FULL} (see tests/reference/README.md)"
        )
    if not hasattr(config, "workerinput"):  # the main process, before pytest-xdist starts its workers
        compile_index_kernels()


def compile_index_kernels() -> float:
    """Compile (or load from numba's cache) every index kernel; returns the seconds it took.

    Done once per test session before any test, so that no test's deadline
    (a hub becoming ready, a lookup answering) includes a cold compilation:
    on a loaded 2-core machine that takes minutes. In the main process it
    fills the on-disk cache; each xdist worker then loads it (autouse fixture
    below), as do the hub processes the tests start.
    """
    import time

    from tahaluf.index.warmup import warm_up

    started = time.perf_counter()
    warm_up()
    return time.perf_counter() - started


@pytest.fixture(scope="session", autouse=True)
def _index_kernels_compiled() -> None:
    compile_index_kernels()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The full reference set (../shared/reference) when present, else the shipped subset."""
    return REFERENCE


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    from tahaluf.demo import demo_content_dir

    return demo_content_dir()
