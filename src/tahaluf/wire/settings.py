"""Hub policies on the wire (``/v1/settings``, ``tahaluf settings show --json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tahaluf.services.settings import SettingsView

__all__ = ["SettingsOut", "settings_out"]


class SettingsOut(BaseModel):
    settings: dict[str, Any]
    help: dict[str, str]


def settings_out(view: SettingsView) -> SettingsOut:
    return SettingsOut(settings=view.values, help=view.help)
