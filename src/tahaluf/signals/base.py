"""The :class:`Signal` record every hasher returns.

A signal is a fingerprint of one piece of content: a ``type`` (a
registered signal type, see :mod:`tahaluf.signal_types`), a string ``value``
(hex for digests and PDQ, a versioned text encoding for ``text`` and ``vpdq``) and type-specific ``extra`` fields
(``quality`` for PDQ, ``frames`` for vPDQ, ...). ``to_json()`` gives the
object printed by ``tahaluf hash``: ``{"type": ..., "value": ..., **extra}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Signal:
    type: str
    value: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, **self.extra}
