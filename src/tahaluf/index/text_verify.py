"""Exact verification of text candidates: the match rule, the exact overlap
of two sketches, and the least overlap a match can have (which bounds the
candidates :class:`~tahaluf.index.text.TextIndex` sends here).

A pair matches when its Jaccard similarity reaches ``min_similarity``, or when
either side is contained in the other at ``min_containment`` or more and that
side has at least ``MIN_CONTAINED_SHINGLES`` shingles. The compiled candidate
selection (:mod:`tahaluf.index.text_kernels`) bounds candidates the same way as
:func:`weakest_overlap`: change both together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tahaluf.signals.text import MIN_CONTAINED_SHINGLES

__all__ = ["TextMatch", "overlap", "segments", "verified_matches", "weakest_overlap"]


@dataclass(frozen=True, slots=True)
class TextMatch:
    item_id: int
    similarity: float
    query_in_item: float  # containment of the query in the bank item
    item_in_query: float  # containment of the bank item in the query


def verified_matches(
    count: int, pq: np.ndarray, ids: np.ndarray, inter: np.ndarray, nq: np.ndarray, nb: np.ndarray,
    min_similarity: float, min_containment: float,
) -> list[list[TextMatch]]:
    """The (query, item) pairs whose exact overlap passes the rule, best first per
    query (then by item id): per pair its query ``pq``, the item's id, the overlap
    ``inter`` and the sizes of the query (``nq``) and the item (``nb``) sketches."""
    out: list[list[TextMatch]] = [[] for _ in range(count)]
    sim = inter / (nq + nb - inter)
    q_in, o_in = inter / nq, inter / nb
    ok = (sim >= min_similarity) | ((q_in >= min_containment) & (nq >= MIN_CONTAINED_SHINGLES)) | (
        (o_in >= min_containment) & (nb >= MIN_CONTAINED_SHINGLES))
    keep = np.flatnonzero(ok)
    strength = np.maximum(np.maximum(sim[keep], q_in[keep]), o_in[keep])
    keep = keep[np.lexsort((ids[keep], -strength, pq[keep]))]
    rows = zip(pq[keep].tolist(), ids[keep].tolist(), sim[keep].tolist(),
               q_in[keep].tolist(), o_in[keep].tolist(), strict=True)
    for k, item_id, s, a, c in rows:
        out[k].append(TextMatch(item_id, s, a, c))
    return out


def overlap(
    keyed: np.ndarray, q: np.ndarray, pq: np.ndarray, begin: np.ndarray, sizes: np.ndarray, flat: np.ndarray
) -> np.ndarray:
    """Per pair, how many of ``flat[begin:begin + size]`` are in its query's
    hashes (``keyed``: sorted ``query << 32 | hash``; ``q``: those hashes)."""
    if not pq.size:
        return np.zeros(0, dtype=np.int64)
    values = flat[segments(begin, sizes)]
    # screen on a table of the top hash bits of every query in the batch, then confirm
    bits = int(min(22, max(12, (q.size * 16).bit_length())))
    shift = np.uint32(32 - bits)
    table = np.zeros(1 << bits, dtype=np.bool_)
    table[q >> shift] = True
    maybe = np.flatnonzero(table[values >> shift])
    pair = np.searchsorted(np.cumsum(sizes), maybe, side="right")
    probe = (pq[pair] << 32) | values[maybe].astype(np.int64)
    pos = np.searchsorted(keyed, probe)
    np.minimum(pos, keyed.size - 1, out=pos)
    return np.bincount(pair[keyed[pos] == probe], minlength=pq.size)


def weakest_overlap(nq: np.ndarray, nb: np.ndarray, min_similarity: float, min_containment: float) -> np.ndarray:
    """Smallest fraction of each bank item's shingles a match can share."""
    s = min_similarity
    need = s / (1.0 + s) * (nq + nb)  # similarity >= s needs this overlap
    need = np.where(nq >= MIN_CONTAINED_SHINGLES, np.minimum(need, min_containment * nq), need)
    need = np.where(nb >= MIN_CONTAINED_SHINGLES, np.minimum(need, min_containment * nb), need)
    return np.clip(need / nb, 1e-9, 1.0)


def segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every (s, n)."""
    total = int(lengths.sum())
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.repeat(shift, lengths) + np.arange(total, dtype=np.int64)
