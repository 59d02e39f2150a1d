"""Hub policies an admin changes at run time (stored in the database, so every
worker sees them): :data:`SETTINGS` and :class:`SettingsService`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput
from tahaluf.services.audit import AuditService
from tahaluf.ports.hub import Settings

__all__ = ["Setting", "SETTINGS", "SettingsView", "SettingsService", "validate_settings", "parse_setting"]


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type
    #: bounds of a number (inclusive)
    minimum: float = 0
    maximum: float = float("inf")


#: hub policies an admin changes at run time (``GET/PUT /v1/settings``, ``tahaluf settings``)
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("review_match_min_score", 0.8, "lookups whose best known-bank match scores at least this "
                "(0..1) become review tasks; 1.1 turns it off", float, 0.0, 1.1),
        Setting("review_claim_ttl_s", 900, "seconds a reviewer's claim lasts before the task returns to the queue "
                "(1 s to 30 days)", int, 1, 30 * 86400),
        Setting("review_two_person_rule", False, "confirming into a bank shared with other members needs two "
                "confirmations from two different members", bool),
        Setting("lookup_exclude_disputed", False, "leave disputed items out of lookups unless a request asks "
                "otherwise", bool),
        Setting("review_submission_reviewers", [], "members whose reviewers see and decide every member's "
                "submissions (their text and note); others see only their own member's, admins all", list),
        Setting("evidence_retention_days", 90, "days a submission's media is kept in the evidence store before "
                "the purge removes it (unless on legal hold; admins may change it per submission)", int, 1, 36500),
    )
}


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        setting = SETTINGS.get(name)
        if setting is None:
            raise InvalidInput(f"unknown setting {name!r} (known: {', '.join(SETTINGS)})")
        ok = isinstance(value, setting.kind) and not (setting.kind is not bool and isinstance(value, bool))
        if setting.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = (float(value), True) if abs(value) < 2**53 else (value, False)
        if not ok:
            raise InvalidInput(f"setting {name!r} must be a {setting.kind.__name__}")
        if setting.kind is list and not (
            len(value) <= 1000 and all(isinstance(v, str) and 0 < len(v) <= 128 for v in value)
        ):
            raise InvalidInput(f"setting {name!r} must be a list of up to 1000 member names")
        if setting.kind in (int, float) and value < 0:
            raise InvalidInput(f"setting {name!r} must not be negative")
        if setting.kind in (int, float) and not setting.minimum <= value <= setting.maximum:  # NaN too
            raise InvalidInput(f"setting {name!r} must be between {setting.minimum:g} and {setting.maximum:g}")
        out[name] = value
    return out


def parse_setting(name: str, text: str) -> Any:
    """A setting's value from command-line text (``true``, ``0.9``, ``a,b``), checked."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise InvalidInput(f"unknown setting {name!r} (known: {', '.join(SETTINGS)})")
    value: Any
    if setting.kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise InvalidInput(f"setting {name!r} must be true or false, not {text!r}")
        value = lowered in ("true", "1", "yes", "on")
    elif setting.kind in (int, float):
        try:
            value = setting.kind(text)
        except ValueError:
            raise InvalidInput(f"setting {name!r} must be a {setting.kind.__name__}, not {text!r}") from None
    else:
        value = [part.strip() for part in text.split(",") if part.strip()]
    return validate_settings({name: value})[name]


@dataclass(frozen=True, slots=True)
class SettingsView:
    """The hub policies now in force, with each one's help text."""

    values: dict[str, Any]

    @property
    def help(self) -> dict[str, str]:
        return {n: s.help for n, s in SETTINGS.items()}


class SettingsService:
    """Reads (cached for ``cache_s``) and changes (audited, admins only) the hub policies.

    Calling the service (``hub.settings.current()``) returns the values in force, as a dict."""

    def __init__(self, hubstore: Settings, audit: AuditService, cache_s: float) -> None:
        self.hubstore = hubstore
        self.audit = audit
        self.cache_s = cache_s
        self._values: dict[str, Any] = {}
        self._at = -1e9

    def current(self, *, fresh: bool = False) -> dict[str, Any]:
        """The hub policies (cached for ``cache_s``; ``fresh`` reads the database)."""
        now = time.monotonic()
        if fresh or now - self._at > self.cache_s:
            stored = self.hubstore.get_settings()
            self._values = {name: stored.get(name, s.default) for name, s in SETTINGS.items()}
            self._at = now
        return dict(self._values)

    def show(self, actor: Principal | str) -> SettingsView:
        """The policies in force, read from the database (admins, or the command line)."""
        if isinstance(actor, Principal):
            actor.require(Capability.ADMIN)
        return SettingsView(self.current(fresh=True))

    def update(self, actor: Principal | str, values: Mapping[str, Any]) -> SettingsView:
        """Change some policies (checked, audited as ``settings.update``)."""
        if isinstance(actor, Principal):
            actor.require(Capability.ADMIN)
        clean = validate_settings(values)
        with self.audit.change():
            self.hubstore.put_settings(clean)
            self.audit.append(actor, "settings.update", "settings", clean)
        return SettingsView(self.current(fresh=True))
