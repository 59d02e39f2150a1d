"""`tahaluf bank add` (issue 11, point 6): duplicates are found by content, and
external ids hold no path of the machine that added them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tahaluf.cli.main import app

DEMO = Path(__file__).resolve().parents[1] / "src" / "tahaluf" / "demo" / "content"


def _cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'add.db'}"

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--db", db, "bank", *args])

    return run


def _exported(run: Any, bank: str) -> list[dict[str, Any]]:
    out = run("export", bank)
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.splitlines()[1:]]


def test_the_same_content_under_another_path_is_a_duplicate(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second" / "renamed"
    first.mkdir()
    second.mkdir(parents=True)
    shutil.copy(DEMO / "photos" / "hills.jpg", first / "hills.jpg")
    shutil.copy(DEMO / "photos" / "hills.jpg", second / "copy-of-hills.jpg")
    shutil.copy(DEMO / "photos" / "shapes.png", second / "shapes.png")
    run = _cli(tmp_path)
    assert run("create", "weather", "--label", "entity=demo-entity").exit_code == 0
    assert run("add", "weather", str(first)).exit_code == 0
    again = run("add", "weather", str(tmp_path / "second"))
    assert again.exit_code == 0, again.output
    assert "imported 1, skipped 1 duplicates" in again.stdout
    assert "renamed/copy-of-hills.jpg: same content as item hills.jpg" in again.stderr
    assert sorted(i["external_id"] for i in _exported(run, "weather")) == ["hills.jpg", "renamed/shapes.png"]
    # two copies in one run: the first is stored
    assert run("create", "once").exit_code == 0
    both = run("add", "once", str(first / "hills.jpg"), str(second / "copy-of-hills.jpg"))
    assert "imported 1, skipped 1 duplicates" in both.stdout
    assert [i["external_id"] for i in _exported(run, "once")] == ["hills.jpg"]


def test_external_ids_and_sources_hold_no_local_path(tmp_path: Path) -> None:
    folder = tmp_path / "private" / "analyst-home" / "weather"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(DEMO / "photos" / "valley.png", folder / "valley.png")
    shutil.copy(DEMO / "posts" / "market-en.txt", folder / "sub" / "market.txt")
    single = tmp_path / "private" / "hills.jpg"
    shutil.copy(DEMO / "photos" / "hills.jpg", single)
    run = _cli(tmp_path)
    assert run("create", "weather").exit_code == 0
    added = run("add", "weather", str(folder), str(single))
    assert added.exit_code == 0, added.output
    items = _exported(run, "weather")
    assert [i["external_id"] for i in items] == ["valley.png", "sub/market.txt", "hills.jpg"]
    assert all(str(tmp_path) not in json.dumps(i) for i in items)
    assert run("remove", "weather", "valley.png").exit_code == 0
