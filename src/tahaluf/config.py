"""The hub's server configuration: :class:`HubConfig`, read from ``TAHALUF_*``
environment variables and validated at start-up (including which API
routers a hub exposes, ``TAHALUF_ROUTERS``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from tahaluf.errors import InvalidInput

__all__ = ["HubConfig", "ROUTER_AREAS", "parse_routers"]

#: the API areas a hub can expose, each one router (``TAHALUF_ROUTERS=matching,banks``)
ROUTER_AREAS = ("matching", "banks", "admin", "reviews", "feedback", "webhooks")
#: names that stand for several areas
ROUTER_GROUPS = {"all": ROUTER_AREAS, "curation": ("banks",), "review": ("reviews", "feedback")}


def parse_routers(raw: str | None) -> tuple[str, ...]:
    """``"matching,review"`` -> the areas in :data:`ROUTER_AREAS` order (empty or None: all)."""
    if raw is None or not raw.strip():
        return ROUTER_AREAS
    chosen: set[str] = set()
    for name in (part.strip().lower() for part in raw.split(",")):
        if not name:
            continue
        if name in ROUTER_GROUPS:
            chosen.update(ROUTER_GROUPS[name])
        elif name in ROUTER_AREAS:
            chosen.add(name)
        else:
            known = ", ".join((*ROUTER_AREAS, *ROUTER_GROUPS))
            raise InvalidInput(f"TAHALUF_ROUTERS: unknown router {name!r} (known: {known})")
    return tuple(a for a in ROUTER_AREAS if a in chosen)


def _env_number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise InvalidInput(f"{name}={raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Server configuration (environment variables ``TAHALUF_<FIELD>``, upper case)."""

    #: SQLAlchemy URL (None: the embedded SQLite default)
    db: str | None = None
    #: label vocabulary TOML file (None: the shipped default)
    labels: str | None = None
    #: largest request body accepted, in bytes (uploads included)
    max_request_bytes: int = 64 * 1024 * 1024
    #: most values in one batch lookup
    max_batch: int = 1000
    #: largest page a listing returns
    max_page: int = 1000
    #: requests per second allowed per API key, per worker process (0: no limit)
    rate_limit_per_s: float = 1000.0
    #: requests a key may burst above its rate
    rate_burst: int = 2000
    #: how long a worker trusts a cached key before asking the database again
    key_cache_s: float = 2.0
    #: how often each worker applies the change log to its indexes
    refresh_interval_s: float = 0.5
    #: load and save a PDQ index snapshot next to the database
    snapshot: bool = True
    #: seconds an uploaded video may take to decode, or a PDF to read, before the request fails (504)
    upload_timeout_s: float = 60.0
    #: the API areas this hub exposes (``TAHALUF_ROUTERS``, comma-separated; see :data:`ROUTER_AREAS`)
    routers: tuple[str, ...] = ROUTER_AREAS
    #: the folder of sealed evidence blobs (None: beside the SQLite file, else the user data folder)
    evidence_dir: str | None = None
    #: the evidence key file (None: beside the SQLite file, else the user data folder;
    #: ``TAHALUF_EVIDENCE_KEYS`` with the keys themselves takes precedence)
    evidence_key_file: str | None = None
    #: seconds between the evidence purges ``serve`` runs (0: none; ``tahaluf evidence purge`` by hand)
    evidence_purge_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        unknown = [r for r in self.routers if r not in ROUTER_AREAS]
        if unknown:
            raise InvalidInput(f"unknown routers {', '.join(unknown)} (known: {', '.join(ROUTER_AREAS)})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> HubConfig:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"TAHALUF_{f.name.upper()}"
            default = f.default
            if f.name in ("db", "labels", "evidence_dir", "evidence_key_file"):
                values[f.name] = env.get(name) or None
            elif f.name == "routers":
                values[f.name] = parse_routers(env.get(name))
            elif isinstance(default, bool):
                raw = env.get(name)
                values[f.name] = default if raw in (None, "") else raw.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                values[f.name] = int(_env_number(env, name, default, minimum=0))
            else:
                values[f.name] = _env_number(env, name, float(default), minimum=0)  # type: ignore[arg-type]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
