"""``pdq``: Meta's perceptual photo hash, matched within a Hamming distance.

A photo's query also carries its dihedral hashes and border/caption variants
(``extra``); a bank photo may carry the hashes of its standard crops as more
``pdq`` signals (slots 1..15 of its item). Matches within each bank's
``pdq_max_distance`` (default 31) count; the score is ``1 - distance/64``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tahaluf.errors import InvalidInput
from tahaluf.index.pdq import PDQIndex
from tahaluf.index.pdq_codec import hashes_from_hex
from tahaluf.signal_types.base import (
    SLOTS_PER_ITEM,
    Hit,
    MatchContext,
    MatchOptions,
    SignalType,
    TypeIndex,
    Warn,
)
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.photo import hash_photo

DEFAULT_MAX_DISTANCE = 31


class PDQTypeIndex(TypeIndex):
    """The PDQ range index; ids are ``item_id * 16 + k``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.index = PDQIndex()

    def __len__(self) -> int:
        return len(self.index)

    def load(self, repo: Any, warn: Warn) -> None:
        """Stream raw PDQ bytes (ordered by signal id, so an item's hashes are
        contiguous) and give the k-th hash of an item the id ``item*16 + k``.
        The rows are indexed in one ``add``: one segment, built once."""
        last_item, last_k = -1, -1
        all_ids: list[np.ndarray] = []
        all_hashes: list[np.ndarray] = []
        for batch in repo.iter_pdq():
            items = np.asarray(batch.item_ids, dtype=np.int64)
            if not len(items):
                continue
            hashes = np.frombuffer(batch.hashes, dtype=np.uint8).reshape(len(items), 32)
            pos = np.arange(len(items))
            new_run = np.ones(len(items), dtype=bool)
            new_run[1:] = items[1:] != items[:-1]
            run_start = np.maximum.accumulate(np.where(new_run, pos, 0))
            k = pos - run_start
            if items[0] == last_item:  # the item continues from the previous batch
                first_run = run_start == 0
                k[first_run] += last_k + 1
            keep = k < SLOTS_PER_ITEM  # more than 16 PDQ hashes on one item: keep the first 16
            all_ids.append(items[keep] * SLOTS_PER_ITEM + k[keep])
            all_hashes.append(hashes[keep])
            last_item, last_k = int(items[-1]), int(k[-1])
        if all_ids:
            self.index.add(np.concatenate(all_ids), np.concatenate(all_hashes))

    def add(self, rows: Sequence[tuple[int, int, str]], warn: Warn) -> None:
        """Add the rows in one batch (PDQ segments are built per add)."""
        if not rows:
            return
        ids = [item_id * SLOTS_PER_ITEM + k for item_id, k, _ in rows]
        try:
            words = hashes_from_hex([value for _, _, value in rows])
        except InvalidInput:  # one malformed stored hash: index the rest one by one
            for slot, (item_id, _k, value) in zip(ids, rows, strict=True):
                try:
                    self.index.add(np.array([slot], dtype=np.int64), hashes_from_hex([value]))
                except InvalidInput as one:
                    warn(item_id, self.name, one)
            return
        self.index.add(np.asarray(ids, dtype=np.int64), words)

    def remove(self, item_ids: Sequence[int]) -> None:
        if item_ids:  # one pass for the whole batch
            base = np.asarray(item_ids, dtype=np.int64)[:, None] * SLOTS_PER_ITEM
            self.index.remove((base + np.arange(SLOTS_PER_ITEM, dtype=np.int64)).ravel())

    def query(self, signals: Sequence[Signal], ctx: MatchContext) -> list[list[Hit]]:
        """All queries in one index call: each photo's hash, its 8 dihedral
        hashes and its border/caption variants; best distance per bank item."""
        if not signals:
            return []
        owners: list[int] = []
        values: list[str] = []
        for q, sig in enumerate(signals):
            variants = [sig.value, *sig.extra.get("dihedral", [])[1:], *sig.extra.get("variants", [])]
            values += variants
            owners += [q] * len(variants)
        found = self.index.query(hashes_from_hex(values), _threshold(ctx))
        owner = np.asarray(owners, dtype=np.int64)[found.query_rows]
        best: list[dict[int, Hit]] = [{} for _ in signals]
        for q, slot, dist in zip(owner.tolist(), found.ids.tolist(), found.distances.tolist(), strict=True):
            item_id, k = divmod(slot, SLOTS_PER_ITEM)
            prev = best[q].get(item_id)
            if prev is None or dist < (prev.distance or 0):
                best[q][item_id] = Hit(item_id, self.name, distance=int(dist), evidence={"bank_variant": k})
        return [list(b.values()) for b in best]


def _threshold(ctx: MatchContext) -> int:
    if ctx.opts.pdq_max_distance is not None:
        return ctx.opts.pdq_max_distance
    return max(ctx.bank_pdq.values(), default=DEFAULT_MAX_DISTANCE)


class PDQ(SignalType):
    name = "pdq"
    matching = "near"
    content_kinds = ("photo",)
    order = 30
    evidence_rank = 4
    kept_for_reports = True
    hex_digits = 64
    default_threshold = DEFAULT_MAX_DISTANCE
    value_help = "64 hex digits"

    def canonical(self, value: str, extra: dict[str, Any] | None) -> tuple[str, bytes | None]:
        clean, _ = super().canonical(value, extra)
        quality = (extra or {}).get("quality")
        if quality is not None and (not isinstance(quality, int) or not 0 <= quality <= 100):
            raise InvalidInput(f"pdq quality must be an integer 0..100, got {quality!r}")
        return clean, bytes.fromhex(clean)

    def compute(self, content: Content) -> list[Signal]:
        opts = content.opts
        sig = hash_photo(content.read("photo"), max_pixels=opts.max_pixels, min_side=opts.pdq_min_side,
                         query_variants=opts.trim_borders, bank_crops=opts.bank_crops)
        if not opts.pdq_dihedral:
            sig = Signal(sig.type, sig.value, {k: v for k, v in sig.extra.items() if k != "dihedral"})
        return [sig]

    def new_index(self) -> TypeIndex:
        return PDQTypeIndex(self.name)

    def score(self, distance: int | None, similarity: float | None) -> float:
        if similarity is not None:
            return float(similarity)
        return max(0.0, 1.0 - distance / 64) if distance is not None else 1.0

    def within_bank_limit(self, hit: Hit, bank_threshold: int, opts: MatchOptions) -> bool:
        limit = bank_threshold if opts.pdq_max_distance is None else opts.pdq_max_distance
        return hit.distance is not None and hit.distance <= limit


SIGNAL_TYPE = PDQ()
