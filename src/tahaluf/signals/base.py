"""The :class:`Signal` record every hasher returns.

A signal is a fingerprint of one piece of content: a ``type`` from
:data:`SIGNAL_TYPES`, a string ``value`` (hex for digests and PDQ, a versioned
text encoding for ``text`` and ``vpdq``) and type-specific ``extra`` fields
(``quality`` for PDQ, ``frames`` for vPDQ, ...). ``to_json()`` gives the
object printed by ``tahaluf hash``: ``{"type": ..., "value": ..., **extra}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNAL_TYPES = ("md5", "sha256", "pdq", "vpdq", "text", "url", "url_md5")

#: a type a bank enables along with another: banks list their ``signal_types``
#: explicitly, and ``url_md5`` (the MD5 python-threatexchange computes for a
#: URL) is one more fingerprint of the same URL, so a bank that takes ``url``
#: signals takes ``url_md5`` ones too
_ENABLED_WITH = {"url_md5": "url"}


def type_enabled(signal_type: str, enabled: "list[str] | tuple[str, ...]") -> bool:
    """True if a bank whose ``signal_types`` are ``enabled`` matches signals of ``signal_type``."""
    return signal_type in enabled or _ENABLED_WITH.get(signal_type, signal_type) in enabled


@dataclass(frozen=True, slots=True)
class Signal:
    type: str
    value: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, **self.extra}
