"""Documentation stays in step with the code: CLI reference, README, public surface."""

from __future__ import annotations

from pathlib import Path

import typer.main

import tahaluf
from tahaluf.cli.main import app
from tahaluf.cli.reference import render

ROOT = Path(__file__).resolve().parents[1]


def _commands(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, cmd


def test_cli_reference_is_up_to_date():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m tahaluf.cli.reference > docs/cli.md`"
    )


def test_every_command_and_option_has_help():
    for path, cmd in _commands(typer.main.get_command(app)):
        assert (cmd.help or "").strip(), f"tahaluf {' '.join(path)} has no help text"
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help":
                assert (p.help or "").strip(), f"tahaluf {' '.join(path)} {p.opts[0]} has no help"


def test_readme_names_every_top_level_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    for name in root.commands:
        assert f"tahaluf {name}" in readme, f"README does not mention `tahaluf {name}`"


def test_public_surface_is_pinned():
    assert sorted(tahaluf.__all__) == sorted([
        "__version__", "Signal", "TahalufError", "InvalidInput", "UnsupportedContent",
        "ContentTooLarge", "DecodeError", "Timeout", "NotFound", "Conflict",
        "PermissionDenied", "ExchangeError", "StorageError",
    ])
    for name in tahaluf.__all__:
        assert hasattr(tahaluf, name)


def test_every_error_has_a_distinct_stable_code():
    from tahaluf import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert all(issubclass(c, errors.TahalufError) for c in classes)


def test_every_hub_setting_and_variable_is_documented():
    from dataclasses import fields

    from tahaluf.services.hub import SETTINGS, HubConfig

    hub_doc = (ROOT / "docs" / "hub.md").read_text(encoding="utf-8")
    for f in fields(HubConfig):
        assert f"`TAHALUF_{f.name.upper()}`" in hub_doc, f"docs/hub.md does not document TAHALUF_{f.name.upper()}"
    for name in SETTINGS:
        assert f"`{name}`" in hub_doc, f"docs/hub.md does not document the setting {name}"
