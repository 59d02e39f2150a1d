"""The clock port: where services and stores get the current time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "now"]


class Clock(Protocol):
    """Something that tells the time (an aware UTC datetime)."""

    def now(self) -> datetime: ...


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return now()
