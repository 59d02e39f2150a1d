"""The hub and the CLI share one PDQ snapshot per database, whatever the URL's password."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import pg_schema_url
from tahaluf.banks import NewItem, add_items, create_bank
from tahaluf.cli.scan_cmd import _engine
from tahaluf.index.pdq_segment import MIN_TABLE_ROWS
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import HubConfig
from tahaluf.bootstrap import snapshot_dir_for
from tahaluf.signals.base import Signal
from tahaluf.storage import open_store


@pytest.fixture
def pg_url_with_password() -> str:
    gen = pg_schema_url()
    url = next(gen)
    yield url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")  # trust auth ignores it
    gen.close()


@pytest.mark.postgres
@pytest.mark.slow  # 32,768 PDQ items: enough for the hub to write a snapshot
def test_cli_scan_maps_the_snapshot_the_hub_prepared(
    pg_url_with_password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg_url_with_password
    rng = np.random.default_rng(5)
    hexes = [bytes(row).hex() for row in rng.integers(0, 256, size=(MIN_TABLE_ROWS, 32), dtype=np.uint8)]
    with open_store(url) as store:
        create_bank(store, "markets-known", "known", labels={"entity": "demo-entity"})
        add_items(store, "markets-known", [NewItem(f"m{i}", [Signal("pdq", h)]) for i, h in enumerate(hexes)],
                  added_by="test")
    hub = open_hub(HubConfig(db=url, snapshot=True))
    try:
        assert hub.prepare_snapshot()  # written where the hub's workers will map it
    finally:
        hub.close()
    folders = list((tmp_path / "cache" / "tahaluf" / "index").iterdir())
    assert len(folders) == 1
    with open_store(url) as store:
        engine = _engine(store)  # what `tahaluf --db URL scan` loads
        assert engine.snapshot_cursor is not None, "the CLI rebuilt the index instead of mapping the hub's snapshot"
        assert engine.snapshot_cursor == engine.cursor
    assert list((tmp_path / "cache" / "tahaluf" / "index").iterdir()) == folders


def test_the_folder_does_not_depend_on_how_the_password_is_shown() -> None:
    plain = "postgresql://tahaluf:s3cret@127.0.0.1:5432/coalition"
    from sqlalchemy.engine import make_url

    masked = str(make_url(plain))  # '***' for the password, as str(engine.url) shows it
    assert "***" in masked
    assert snapshot_dir_for(plain) == snapshot_dir_for(masked) == snapshot_dir_for(make_url(plain))
    assert snapshot_dir_for(plain) != snapshot_dir_for("postgresql://tahaluf:s3cret@127.0.0.1:5432/other")
