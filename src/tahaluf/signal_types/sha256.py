"""``sha256``: the SHA-256 of a file's bytes, matched exactly (pytx: ``video_sha256``)."""

from __future__ import annotations

from tahaluf.signal_types.base import SignalType
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal


class SHA256(SignalType):
    name = "sha256"
    aliases = ("video_sha256",)
    content_kinds = ("file",)
    order = 20
    evidence_rank = 0  # an identical copy is the strongest evidence
    hex_digits = 64
    value_help = "64 hex digits"

    def compute(self, content: Content) -> list[Signal]:
        return [Signal(self.name, content.digests()[1])]


SIGNAL_TYPE = SHA256()
