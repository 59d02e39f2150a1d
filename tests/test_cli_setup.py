"""What a new user hits first: global options, exit statuses, option names, database paths, the demo."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from hubproc import hub_env
from tahaluf import errors
from tahaluf.cli.main import app

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _bank_names(result) -> list[str]:  # noqa: ANN001
    assert result.exit_code == 0, result.output
    return [json.loads(line)["name"] for line in result.stdout.splitlines()]


# -- --db after the sub-command ----------------------------------------------------------


def test_db_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'late.db'}"
    made = runner.invoke(app, ["bank", "create", "weather-known", "--db", db])
    assert made.exit_code == 0, made.output
    assert _bank_names(runner.invoke(app, ["bank", "list", "--json", f"--db={db}"])) == ["weather-known"]
    assert _bank_names(runner.invoke(app, ["--db", db, "bank", "list", "--json"])) == ["weather-known"]
    other = f"sqlite:///{tmp_path / 'other.db'}"  # after the command wins, as the last one given
    assert _bank_names(runner.invoke(app, ["--db", db, "bank", "list", "--json", "--db", other])) == []


def test_an_argument_spelled_like_the_option_after_a_double_dash_is_left_alone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["--db", db, "hash", "--text", "markets opened higher", "--", "--db"])
    assert result.exit_code != 0  # '--db' is a path here (no such file), not the option
    assert "--db" in result.output


# -- a database in a folder that does not exist -----------------------------------------------


def test_sqlite_file_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "hub.db"
    result = runner.invoke(app, ["--db", f"sqlite:///{missing}", "bank", "list"])
    assert result.exit_code == errors.StorageError.exit_code
    assert "does not exist" in result.stderr and str(missing.parent) in result.stderr
    assert "Traceback" not in result.output
    assert not missing.parent.exists()


def test_create_makes_the_folder(tmp_path: Path) -> None:
    wanted = tmp_path / "new" / "hub.db"
    for args in (["--create", "--db", f"sqlite:///{wanted}", "bank", "list"],
                 ["--create", "bank", "list", "--db", f"sqlite:///{wanted}"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert wanted.is_file()


def test_sqlite_uri_url_creates_no_folder_named_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    db = f"sqlite:///file:{tmp_path / 'data' / 'uri.db'}?uri=true"
    result = runner.invoke(app, ["--db", db, "bank", "create", "markets-known"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "uri.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no 'file:' folder beside it
    memory = runner.invoke(app, ["--db", "sqlite:///file:mem?mode=memory&uri=true", "bank", "list"])
    assert memory.exit_code == 0, memory.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


# -- documented exit statuses, option names and help ---------------------------------------


def test_every_exit_status_is_documented() -> None:
    statuses = {cls.exit_code for cls in (getattr(errors, n) for n in errors.__all__)} | {0, 3, 9}
    cli_md = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = cli_md.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("Exit status:", 1)[1].split("\n\n", 1)[0]
    for status in sorted(statuses):
        assert re.search(rf"^\| {status} \|", table, re.M), f"docs/cli.md: exit status {status}"
        assert re.search(rf"\b{status}\b", paragraph), f"README: exit status {status}"


def _option(path: list[str], flag: str):  # noqa: ANN202
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return next(p for p in cmd.params if flag in getattr(p, "opts", []))


def test_label_options_say_what_they_label() -> None:
    assert "default label" in _option(["bank", "create"], "--label").help.lower()
    assert "default label" not in _option(["bank", "label"], "--label").help.lower()
    assert "item" in _option(["bank", "label"], "--label").help.lower()
    assert "added item" in _option(["bank", "add"], "--label").help.lower()


def test_serve_and_deliver_name_the_private_networks_option_alike() -> None:
    serve = _option(["serve"], "--allow-private-networks")
    deliver = _option(["webhooks", "deliver"], "--allow-private-networks")
    assert serve.help == deliver.help
    old = _option(["serve"], "--private-webhooks")
    assert old.hidden  # kept, deprecated


def test_the_deprecated_private_webhooks_flag_still_works_with_a_warning(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["--db", f"sqlite:///{tmp_path / 'h.db'}", "serve", "--private-webhooks",
                                     "--port", str(port), "--no-deliver"])
    assert "--private-webhooks is deprecated: use --allow-private-networks" in result.stderr
    assert result.exit_code == 2 and "cannot listen" in result.stderr  # parsed, then stopped at the port


# -- webhooks the deliverer would refuse -------------------------------------------------------------


def test_registering_a_webhook_the_deliverer_refuses_answers_with_a_warning(tmp_path: Path) -> None:
    from tahaluf.api.app import create_app
    from tahaluf.services import webhooks
    from tahaluf.bootstrap import open_hub
    from tahaluf.services.hub import HubConfig

    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False))
    _, key = hub.accounts.add_member("cli:test", "weather-desk", ["viewer"])
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        def register(url: str) -> dict:
            resp = client.post("/v1/webhooks", json={"url": url, "events": ["match"]},
                               headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 201, resp.text
            return resp.json()

        for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://localhost:8080/x",
                    "http://[::1]:9/hook"):
            found = register(url)
            assert len(found["warnings"]) == 1 and "--allow-private-networks" in found["warnings"][0], url
        assert register("https://hooks.example.org/tahaluf")["warnings"] == []
        assert register("https://203.0.113.9/tahaluf")["warnings"] != []  # documentation range: not public
    # what the warning says: the deliverer, as started by default, refuses the first
    from tahaluf.services.webhooks.transport import _GuardedBackend  # noqa: PLC2701

    with pytest.raises(Exception, match="not a public address"):
        _GuardedBackend(False)._addresses("127.0.0.1", 9)
    assert webhooks.url_warnings("https://hooks.example.org/x") == []
    hub.close()


# -- the demo keeps to its own database ------------------------------------------------------------


@pytest.mark.slow
def test_demo_leaves_the_default_database_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = hub_env(tmp_path / "cache", {"XDG_DATA_HOME": str(data), "COLUMNS": "200"})
    demo = subprocess.run([sys.executable, "-m", "tahaluf", "demo"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert str(data / "tahaluf" / "demo.db") in demo.stdout.replace("\n", "")
    listed = subprocess.run([sys.executable, "-m", "tahaluf", "bank", "list", "--json"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""  # the default database has no demo banks
    in_demo = subprocess.run([sys.executable, "-m", "tahaluf", "--db", f"sqlite:///{data / 'tahaluf' / 'demo.db'}",
                              "bank", "list", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert {json.loads(x)["name"] for x in in_demo.stdout.splitlines()} == {"demo-known", "demo-allow"}
    members = subprocess.run([sys.executable, "-m", "tahaluf", "member", "list", "--json"], capture_output=True,
                             text=True, env=env, timeout=120)
    assert "demo-admin" not in members.stdout
    assert os.path.getsize(data / "tahaluf" / "demo.db") > 0
