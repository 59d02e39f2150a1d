"""``md5``: the MD5 of a file's bytes, matched exactly (pytx: ``photo_md5``, ``video_md5``)."""

from __future__ import annotations

from tahaluf.signal_types.base import SignalType
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal


class MD5(SignalType):
    name = "md5"
    aliases = ("photo_md5", "video_md5")
    content_kinds = ("file",)
    order = 10
    evidence_rank = 1
    hex_digits = 32
    value_help = "32 hex digits"

    def compute(self, content: Content) -> list[Signal]:
        return [Signal(self.name, content.digests()[0])]


SIGNAL_TYPE = MD5()
