"""``text``: a post's shingle sketch (``t1:...``), matched by Jaccard similarity or containment.

Computed from inline posts, text files and the text of PDFs. A raw post
given where a value is expected (python-threatexchange's ``raw_text``, a
lookup line) becomes its sketch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tahaluf.errors import InvalidInput
from tahaluf.index.text import TextIndex
from tahaluf.signal_types.base import (
    SLOTS_PER_ITEM,
    Hit,
    MatchContext,
    MatchOptions,
    SignalType,
    TypeIndex,
    Warn,
)
from tahaluf.signal_types.content import TEXT_PREVIEW_CHARS, Content
from tahaluf.signals import sniff
from tahaluf.signals.base import Signal
from tahaluf.signals.pdf import extract_pdf_text
from tahaluf.signals.text import DEFAULT_MIN_SIMILARITY, TextSketch, text_signal


class TextTypeIndex(TypeIndex):
    """The shingle index; ids are ``item_id * 16 + k``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.index = TextIndex()

    def __len__(self) -> int:
        return len(self.index)

    def add(self, rows: Sequence[tuple[int, int, str]], warn: Warn) -> None:
        for item_id, k, value in rows:
            try:
                self.index.add(item_id * SLOTS_PER_ITEM + k, TextSketch.from_value(value))
            except InvalidInput as exc:
                warn(item_id, self.name, exc)

    def remove(self, item_ids: Sequence[int]) -> None:
        for item_id in item_ids:
            for slot in range(item_id * SLOTS_PER_ITEM, (item_id + 1) * SLOTS_PER_ITEM):
                if slot in self.index:
                    self.index.remove(slot)

    def query(self, signals: Sequence[Signal], ctx: MatchContext) -> list[list[Hit]]:
        if not signals:
            return []
        sketches = [TextSketch.from_value(sig.value) for sig in signals]
        args = (ctx.opts.text_min_similarity, ctx.opts.text_min_containment)
        results = self.index.query_many(sketches, *args)
        return [self._hits(found, ctx.opts) for found in results]

    def _hits(self, found: Sequence[Any], opts: MatchOptions) -> list[Hit]:
        best: dict[int, Hit] = {}
        for m in found:
            item_id = m.item_id // SLOTS_PER_ITEM
            if item_id in best:
                continue
            best[item_id] = Hit(
                item_id, self.name, similarity=m.similarity,
                evidence={
                    "jaccard": round(m.similarity, 4),
                    "query_in_item": round(m.query_in_item, 4),
                    "item_in_query": round(m.item_in_query, 4),
                    "relation": containment_evidence(m.query_in_item, m.item_in_query, opts),
                },
            )
        return list(best.values())


def containment_evidence(q_in: float, i_in: float, opts: MatchOptions) -> str:
    """How the query and the bank text relate, in words a reviewer can use."""
    if min(q_in, i_in) >= 0.9:
        return "near_duplicate"
    if q_in >= opts.text_min_containment and q_in > i_in:
        return "query_within_item"  # e.g. a truncated repost
    if i_in >= opts.text_min_containment and i_in > q_in:
        return "item_within_query"  # e.g. a known statement quoted in a longer post
    return "similar"


class Text(SignalType):
    name = "text"
    aliases = ("raw_text",)
    matching = "near"
    content_kinds = ("post", "text", "pdf")
    order = 50
    evidence_rank = 6
    case_sensitive = True
    default_threshold = DEFAULT_MIN_SIMILARITY
    value_help = "the post itself or a t1: sketch"

    def canonical(self, value: str, extra: dict[str, Any] | None) -> tuple[str, bytes | None]:
        """A raw post becomes its ``t1:`` sketch; a sketch is parsed, so a malformed
        one is refused here instead of stopping every index that loads it."""
        if not value.startswith("t1:"):
            return text_signal(value).value, None
        TextSketch.from_value(value)
        return value, None

    def convert(self, value: str) -> Signal | None:
        return None if value.startswith("t1:") else text_signal(value)

    def compute(self, content: Content) -> list[Signal]:
        opts = content.opts
        if content.kind == "post":
            text = content.value or ""
        elif content.kind == "pdf":
            text = extract_pdf_text(content.read("PDF"), max_pages=opts.pdf_max_pages, max_chars=opts.max_text_chars,
                                    max_operators=opts.pdf_max_operators, timeout_s=opts.pdf_timeout_s)
            if not text.strip():
                return []
            content.text = text[:TEXT_PREVIEW_CHARS]
        else:
            text = sniff.decode_text(content.read("text file"))
            content.text = text[:TEXT_PREVIEW_CHARS]
        return [text_signal(text, max_chars=opts.max_text_chars)]

    def new_index(self) -> TypeIndex:
        return TextTypeIndex(self.name)


SIGNAL_TYPE = Text()
