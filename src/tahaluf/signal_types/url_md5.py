"""``url_md5``: the MD5 python-threatexchange computes for a URL, matched exactly.

One more fingerprint of the same URL, so a bank that takes ``url`` signals
takes these too (:attr:`SignalType.enabled_with`).
"""

from __future__ import annotations

from tahaluf.signal_types.base import SignalType
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_hex
from tahaluf.signals.url import url_md5_signal


class URLMD5(SignalType):
    name = "url_md5"
    content_kinds = ("url",)
    order = 70
    evidence_rank = 3
    enabled_with = "url"
    hex_digits = 32
    value_help = "a URL or its 32-hex MD5"

    def convert(self, value: str) -> Signal | None:
        text = value.strip()
        return None if not text or is_hex(text) else url_md5_signal(value)

    def compute(self, content: Content) -> list[Signal]:
        return [url_md5_signal(content.value or "")]


SIGNAL_TYPE = URLMD5()
