"""``vpdq``: a video's per-frame PDQ hashes, matched by the share of frames within a distance.

Matches follow the reference vPDQ rule (at least ``vpdq_query_match_pct`` of
the query's frames within ``vpdq_max_distance`` of the video's); the score is
that share. The first vPDQ value of an item is indexed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tahaluf.errors import InvalidInput
from tahaluf.index.vpdq import VPDQIndex, frames_from_value
from tahaluf.signal_types.base import Hit, MatchContext, SignalType, TypeIndex, Warn
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.video import hash_video, video_signal


class VPDQTypeIndex(TypeIndex):
    """The frame index; ids are item ids."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.index = VPDQIndex()

    def __len__(self) -> int:
        return len(self.index)

    def add(self, rows: Sequence[tuple[int, int, str]], warn: Warn) -> None:
        for item_id, _k, value in rows:
            if item_id in self.index:
                continue
            try:
                self.index.add(item_id, frames_from_value(value))
            except InvalidInput as exc:
                warn(item_id, self.name, exc)

    def remove(self, item_ids: Sequence[int]) -> None:
        for item_id in item_ids:
            if item_id in self.index:
                self.index.remove(item_id)

    def query(self, signals: Sequence[Signal], ctx: MatchContext) -> list[list[Hit]]:
        opts = ctx.opts
        out = []
        for sig in signals:
            pdq, quality = frames_from_value(sig.value)
            found = self.index.query(pdq, quality, max_distance=opts.vpdq_max_distance,
                                     query_match_pct=opts.vpdq_query_match_pct,
                                     index_match_pct=opts.vpdq_index_match_pct)
            out.append([
                Hit(m.item_id, self.name, similarity=m.query_match_pct / 100.0,
                    evidence={"query_match_pct": round(m.query_match_pct, 2),
                              "index_match_pct": round(m.index_match_pct, 2)})
                for m in found
            ])
        return out


class VPDQ(SignalType):
    name = "vpdq"
    matching = "near"
    content_kinds = ("video",)
    order = 40
    evidence_rank = 5
    kept_for_reports = True
    looked_up_by_line = False
    default_threshold = 31
    value_help = "tahaluf or pytx vPDQ JSON"

    def canonical(self, value: str, extra: dict[str, Any] | None) -> tuple[str, bytes | None]:
        """Parsed, so a malformed value is refused here, not by every index that loads it."""
        pdq, _quality = frames_from_value(value)
        if not len(pdq):
            raise InvalidInput("a vpdq value needs at least one frame")
        return value, None

    def compute(self, content: Content) -> list[Signal]:
        opts = content.opts
        frames = hash_video(content.path or "", fps=opts.video_fps, timeout_s=opts.video_timeout_s,
                            max_frames=opts.video_max_frames)
        content.frames = frames
        return [video_signal(frames)]

    def new_index(self) -> TypeIndex:
        return VPDQTypeIndex(self.name)


SIGNAL_TYPE = VPDQ()
