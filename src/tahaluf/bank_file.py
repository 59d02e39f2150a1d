"""The header line of a tahaluf bank export (JSONL).

An export starts with one JSON object describing the bank, so that a file
imported elsewhere means what it meant where it was written: the bank's kind
(an allow bank stays an allow bank), its default labels (the ``entity`` of
every item), PDQ threshold, signal types, visibility, owner and the members
it is shared with, and where and when it was exported::

    {"tahaluf_bank": 1, "name": "weather", "kind": "known", "default_labels": {...},
     "signal_types": [...], "pdq_max_distance": 31, "visibility": "all",
     "owner": null, "shared_with": [],
     "provenance": {"created_at": "...", "exported_at": "...", "exported_by": "..."}}

Every following line is one item. Files without a header (written before
version 1) still import, into an existing bank.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tahaluf.errors import InvalidInput
from tahaluf.signal_types import registry

__all__ = ["HEADER_KEY", "HEADER_VERSION", "BankHeader", "parse_header"]

HEADER_KEY = "tahaluf_bank"
HEADER_VERSION = 1


@dataclass(frozen=True, slots=True)
class BankHeader:
    """What an export says about its bank."""

    name: str
    kind: str
    default_labels: dict[str, Any] = field(default_factory=dict)
    signal_types: list[str] = field(default_factory=lambda: list(registry.names()))
    pdq_max_distance: int = 31
    visibility: str = "all"
    owner: str | None = None
    shared_with: list[str] = field(default_factory=list)
    #: where the export comes from: ``created_at`` (the bank), ``exported_at``, ``exported_by``
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_line(self) -> str:
        """The header as one JSON line (no newline)."""
        obj = {HEADER_KEY: HEADER_VERSION, **{k: getattr(self, k) for k in self.__slots__}}
        return json.dumps(obj, ensure_ascii=False)


def _text(obj: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"bank header: {key!r} must be text")
    return value


def _texts(obj: dict[str, Any], key: str, default: Sequence[str]) -> list[str]:
    value = obj.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"bank header: {key!r} must be a list of text")
    return value


def parse_header(obj: Any) -> BankHeader | None:
    """The header in a parsed first line, None if it is not one (an item line)."""
    if not isinstance(obj, dict) or HEADER_KEY not in obj:
        return None
    version = obj[HEADER_KEY]
    if version != HEADER_VERSION:
        raise InvalidInput(
            f"bank header version {version!r} is not supported (this tahaluf reads version {HEADER_VERSION}; "
            "upgrade tahaluf)"
        )
    labels = obj.get("default_labels") or {}
    if not isinstance(labels, dict):
        raise InvalidInput("bank header: 'default_labels' must be an object")
    provenance = obj.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise InvalidInput("bank header: 'provenance' must be an object")
    threshold = obj.get("pdq_max_distance", 31)
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise InvalidInput("bank header: 'pdq_max_distance' must be an integer")
    return BankHeader(
        name=_text(obj, "name"),
        kind=_text(obj, "kind"),
        default_labels=labels,
        signal_types=_texts(obj, "signal_types", registry.names()),
        pdq_max_distance=threshold,
        visibility=_text(obj, "visibility", optional=True) or "all",
        owner=_text(obj, "owner", optional=True),
        shared_with=_texts(obj, "shared_with", ()),
        provenance=provenance,
    )

