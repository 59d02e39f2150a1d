"""The known defects of issue 10 (point 8), each checked: an SQLite URI URL leaves
nothing named ``file:`` in the working folder, the snapshot folder does not depend
on how a URL shows its password, and the dead code is gone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tahaluf import errors, reports
from tahaluf.cli.main import app
from tahaluf.bootstrap import snapshot_dir_for
from tahaluf.storage.audit_key import key_path_for

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_an_sqlite_uri_url_creates_nothing_named_file(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAHALUF_AUDIT_KEY_FILE", raising=False)  # the key goes beside the database
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "data").mkdir()
    path = "data/uri.db" if where == "relative" else str(tmp_path / "data" / "uri.db")
    result = runner.invoke(app, ["--db", f"sqlite:///file:{path}?uri=true&mode=rwc", "bank", "create",
                                 "markets-known", "-l", "entity=demo-entity"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["uri.db", "uri.db.audit-key"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no 'file:' folder or file


def test_the_audit_key_of_an_sqlite_uri_sits_beside_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAHALUF_AUDIT_KEY_FILE", raising=False)
    assert key_path_for(make_url("sqlite:///file:/srv/hub/h.db?uri=true&mode=ro")) == Path("/srv/hub/h.db.audit-key")
    assert key_path_for(make_url("sqlite:////srv/hub/h.db")) == Path("/srv/hub/h.db.audit-key")
    assert not str(key_path_for(make_url("sqlite:///file:mem?mode=memory&uri=true"))).startswith("file:")


def test_the_snapshot_folder_ignores_how_the_password_is_shown() -> None:
    plain = "postgresql://tahaluf:s3cret@127.0.0.1:5432/demo-entity"
    assert snapshot_dir_for(plain) == snapshot_dir_for(str(make_url(plain))) == snapshot_dir_for(make_url(plain))
    assert snapshot_dir_for(plain) == snapshot_dir_for("postgresql://tahaluf:other@127.0.0.1:5432/demo-entity")


def test_the_dead_code_is_gone() -> None:
    assert not hasattr(reports, "render_all")
    assert not hasattr(errors.TahalufError, "to_dict")
    main = ast.parse((ROOT / "src" / "tahaluf" / "cli" / "main.py").read_text(encoding="utf-8"))
    caught = [ast.unparse(h.type) for h in ast.walk(main) if isinstance(h, ast.ExceptHandler) and h.type is not None]
    assert not [c for c in caught if "ImportError" in c]
