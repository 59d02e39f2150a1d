"""``url``: the SHA-256 of a URL's canonical form (docs/url-canonical-form.md), matched exactly."""

from __future__ import annotations

from tahaluf.signal_types.base import SignalType
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_hex
from tahaluf.signals.url import url_signal


class URL(SignalType):
    name = "url"
    content_kinds = ("url",)
    order = 60
    evidence_rank = 2
    hex_digits = 64
    value_help = "a URL or its 64-hex hash"

    def convert(self, value: str) -> Signal | None:
        """A URL (anything but its hash) becomes its hash."""
        text = value.strip()
        return None if not text or is_hex(text) else url_signal(value)

    def compute(self, content: Content) -> list[Signal]:
        return [url_signal(content.value or "")]


SIGNAL_TYPE = URL()
