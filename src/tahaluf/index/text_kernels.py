"""Compiled (numba) kernels of the text index: one call per batch of queries.

``lookup`` finds sorted needles in the sorted posting keys (galloping from
the previous hit). ``query_batch`` does, for each query of a batch: choose
the posting lists to read (shortest first, within the posting budget), count
hits and summed weights per slot with a stamp array over slots (no sort, no
``np.unique``), select the candidates exactly as the numpy path does
(``tahaluf.index.text``), and verify each one by a branch-free pass of the bank
item's hashes over a bitmap of the query's (an upper bound), then exact
probes in an open-addressing set of the query's hashes, stopping as soon as the weakest match's overlap
can no longer be reached. It returns (query, slot, overlap) of the pairs that
may match; the caller applies the rules. Pure functions of their arguments,
except ``state`` (scratch owned by the caller).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def lookup(keys: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Position of each needle (ascending) in ``keys`` (sorted distinct), or -1."""
    n = keys.size
    out = np.full(needles.size, -1, dtype=np.int64)
    lo = 0
    for i in range(needles.size):
        x = needles[i]
        if lo >= n:
            break
        if keys[lo] < x:  # gallop: keys[prev] < x
            prev, step, cur = lo, 1, lo + 1
            while cur < n and keys[cur] < x:
                prev = cur
                step *= 2
                cur = prev + step
            a, b = prev + 1, min(cur, n)
            while a < b:  # first index in [a, b) with keys[index] >= x
                m = (a + b) >> 1
                if keys[m] < x:
                    a = m + 1
                else:
                    b = m
            lo = a
        if lo < n and keys[lo] == x:
            out[i] = lo
    return out


@numba.njit(cache=True, nogil=True)
def _weakest_overlap(nq: int, nb: int, sim: float, cont: float, min_contained: int) -> float:
    """Smallest overlap any rule accepts (same arithmetic as text._weakest)."""
    need = sim / (1.0 + sim) * (nq + nb)
    if nq >= min_contained:
        need = min(need, cont * nq)
    if nb >= min_contained:
        need = min(need, cont * nb)
    return need


@numba.njit(cache=True, nogil=True)
def _table(qh: np.ndarray) -> np.ndarray:
    """Open-addressing set of a query's hashes (load <= 1/4; -1 = empty)."""
    size = 64
    while size < 4 * qh.size:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    mask = size - 1
    for h in qh:
        i = h & mask
        while table[i] >= 0:
            i = (i + 1) & mask
        table[i] = h
    return table


@numba.njit(cache=True, nogil=True)
def _bitmap(qh: np.ndarray) -> np.ndarray:
    """2**16-bit map of the top 16 bits of a query's hashes."""
    bits = np.zeros(1 << 10, dtype=np.uint64)
    for h in qh:
        top = np.int64(h) >> 16
        bits[top >> 6] |= np.uint64(1) << np.uint64(top & 63)
    return bits


@numba.njit(cache=True, nogil=True)
def _intersect(table: np.ndarray, bits: np.ndarray, nq: int, run: np.ndarray, need: float) -> int:
    """How many of ``run`` are in ``table`` (a query's hashes), or -1 once the
    overlap cannot reach ``need``. A branch-free pass on ``bits`` bounds the
    overlap from above (and stops early); only pairs that pass are counted
    exactly."""
    floor = need - 1e-6  # a match's overlap is an integer >= need (up to rounding)
    nb = run.size
    if min(nq, nb) < floor:
        return -1
    bound = 0
    for t in range(nb):
        if (t & 15) == 0 and bound + (nb - t) < floor:
            return -1
        top = np.int64(run[t]) >> 16
        bound += (bits[top >> 6] >> np.uint64(top & 63)) & np.uint64(1)
    if bound < floor:
        return -1
    mask = table.size - 1
    inter = 0
    for t in range(nb):
        h = np.int64(run[t])
        i = h & mask
        while True:
            v = table[i]
            if v == h:
                inter += 1
                break
            if v < 0:
                break
            i = (i + 1) & mask
    return inter if inter >= floor else -1


@numba.njit(cache=True, nogil=True)
def _top(rows: np.ndarray, count: int, value: np.ndarray, most: int, chosen: np.ndarray) -> None:
    """Mark the ``most`` rows of highest value (all rows tied with the last one)."""
    if count <= most:
        for r in range(count):
            chosen[rows[r]] = True
        return
    vals = np.empty(count, dtype=np.float64)
    for r in range(count):
        vals[r] = value[rows[r]]
    cut = np.sort(vals)[count - most]
    for r in range(count):
        if value[rows[r]] >= cut:
            chosen[rows[r]] = True


@numba.njit(cache=True, nogil=True)
def _read_lists(pos, starts, nq, budget, min_lists, hashes):
    """Indices into ``pos`` of the lists a query reads: shortest first (ties:
    lower hash), while the lengths read stay within budget, and at least
    ``min_lists``."""
    order = np.empty(pos.size, dtype=np.int64)
    for e in range(pos.size):
        order[e] = ((starts[pos[e] + 1] - starts[pos[e]]) << 32) | hashes[e]
    order = np.argsort(order, kind="mergesort")
    taken, read = 0, 0
    for r in range(order.size):
        p = pos[order[r]]
        read += starts[p + 1] - starts[p]
        if read > budget and r >= min_lists:
            break
        taken += 1
    return order[:taken]


@numba.njit(cache=True, nogil=True)
def _count(k, lists, pos, starts, slots, qh, fresh_keys, fresh_starts, fresh_slots,
           state, stamp, weight_one):
    """Candidates of query ``k``: (slots, hits, summed weights)."""
    total = 0
    for r in range(lists.size):
        total += starts[pos[lists[r]] + 1] - starts[pos[lists[r]]]
    fresh_pos = np.full(qh.size, -1, dtype=np.int64)
    if fresh_keys.size:
        fresh_pos = lookup(fresh_keys, qh)
        for e in range(qh.size):
            if fresh_pos[e] >= 0:
                total += fresh_starts[fresh_pos[e] + 1] - fresh_starts[fresh_pos[e]]
    sink = np.int64(0)
    for r in range(lists.size):  # touch the slots' state first: independent loads overlap
        p = pos[lists[r]]
        for t in range(starts[p], starts[p + 1]):
            sink += state[slots[t]]
    cand = np.empty(total + (sink == 7), dtype=np.int64)
    hits = np.zeros(total, dtype=np.int64)
    wsum = np.zeros(total, dtype=np.int64)
    n = 0
    tag = np.int64(stamp) << 32
    for part in range(2):
        src_starts = starts if part == 0 else fresh_starts
        src_slots = slots if part == 0 else fresh_slots
        todo = lists.size if part == 0 else qh.size
        for r in range(todo):
            p = pos[lists[r]] if part == 0 else fresh_pos[r]
            if p < 0:
                continue
            begin, end = src_starts[p], src_starts[p + 1]
            w = weight_one // (end - begin)
            for t in range(begin, end):
                s = src_slots[t]
                st = state[s]
                if (st >> 32) == stamp:
                    j = st & 0xFFFFFFFF
                else:
                    j = n
                    state[s] = tag | n
                    cand[n] = s
                    n += 1
                hits[j] += 1
                wsum[j] += w
    return cand[:n], hits[:n], wsum[:n]


@numba.njit(cache=True, nogil=True)
def _select(k, cand, hits, wsum, nq, size, sim, cont, min_contained,
            min_keys, density, sigmas, max_verify, max_ranked):
    """Candidates worth verifying (same rule as text.TextIndex._select)."""
    n = cand.size
    score = np.empty(n, dtype=np.float64)
    strong = np.zeros(n, dtype=np.bool_)
    weak = np.empty(n, dtype=np.int64)
    nweak = 0
    sizes = np.empty(n, dtype=np.int64)
    for j in range(n):  # a pure gather first: the loads overlap
        sizes[j] = size[cand[j]]
    for j in range(n):
        nb = sizes[j]
        if nb < 0:  # removed
            score[j] = -1.0
            continue
        unbiased = nb if nb <= min_keys else nb / density
        frac = _weakest_overlap(nq, nb, sim, cont, min_contained) / nb
        frac = min(max(frac, 1e-9), 1.0)
        need = unbiased * frac
        score[j] = hits[j] / need
        if score[j] >= 1.0:
            strong[j] = True
        elif hits[j] >= need - sigmas * np.sqrt(need):
            weak[nweak] = j
            nweak += 1
    _top(weak, nweak, score, max_verify, strong)
    ranked = np.empty(n, dtype=np.int64)
    nranked = 0
    weight = wsum.astype(np.float64)
    for j in range(n):
        if score[j] >= 0.0 and not strong[j] and hits[j] >= 2:
            ranked[nranked] = j
            nranked += 1
    _top(ranked, nranked, weight, max_ranked, strong)
    return np.flatnonzero(strong)


@numba.njit(cache=True, nogil=True)
def query_batch(q, qoff, owner, pos, hashes, keys_starts, slots, fresh_keys, fresh_starts,
                fresh_slots, size, off, flat, state, stamp0, params, limits):
    """(query, slot, overlap) of every pair that may match, for a batch.

    ``owner``/``pos``/``hashes``: each query hash found in the posting keys
    (owning query, key position, hash), in hash order. ``params``: min
    similarity, min containment, sigmas, key density (floats); ``limits``:
    budget, min lists, min keys, max verify, max ranked, min contained
    shingles, weight of a one-posting list (ints).
    """
    sim, cont, sigmas, density = params[0], params[1], params[2], params[3]
    budget, min_lists, min_keys = limits[0], limits[1], limits[2]
    max_verify, max_ranked, min_contained, weight_one = limits[3], limits[4], limits[5], limits[6]
    count = qoff.size - 1
    per = np.zeros(count + 1, dtype=np.int64)  # group the found hashes by query
    for e in range(owner.size):
        per[owner[e] + 1] += 1
    per = np.cumsum(per)
    fill = per[:-1].copy()
    mine = np.empty(owner.size, dtype=np.int64)
    for e in range(owner.size):
        mine[fill[owner[e]]] = e
        fill[owner[e]] += 1
    out_q = np.empty(1024, dtype=np.int64)
    out_s = np.empty(1024, dtype=np.int64)
    out_i = np.empty(1024, dtype=np.int64)
    n_out = 0
    sink = np.uint32(0)
    for k in range(count):
        idx = mine[per[k] : per[k + 1]]
        kpos, khash = pos[idx], hashes[idx]
        qh = q[qoff[k] : qoff[k + 1]]
        nq = qh.size
        lists = _read_lists(kpos, keys_starts, nq, budget * max(1, nq // 256), min_lists, khash)
        cand, hits, wsum = _count(k, lists, kpos, keys_starts, slots, qh, fresh_keys, fresh_starts,
                                  fresh_slots, state, stamp0 + k, weight_one)
        chosen = _select(k, cand, hits, wsum, nq, size, sim, cont, min_contained,
                         min_keys, density, sigmas, max_verify, max_ranked)
        table, bits = _table(qh), _bitmap(qh)
        for r in range(chosen.size):  # touch every run first: independent loads overlap
            s = cand[chosen[r]]
            for t in range(off[s], min(off[s + 1], off[s] + 192), 16):
                sink ^= flat[t]
        for r in range(chosen.size):
            s = cand[chosen[r]]
            nb = off[s + 1] - off[s]
            inter = _intersect(table, bits, nq, flat[off[s] : off[s + 1]],
                               _weakest_overlap(nq, nb, sim, cont, min_contained))
            if inter < 0:
                continue
            if n_out == out_q.size:
                out_q = np.concatenate((out_q, np.empty(n_out, dtype=np.int64)))
                out_s = np.concatenate((out_s, np.empty(n_out, dtype=np.int64)))
                out_i = np.concatenate((out_i, np.empty(n_out, dtype=np.int64)))
            out_q[n_out], out_s[n_out], out_i[n_out] = k, s, inter
            n_out += 1
    if sink == 1 and n_out < 0:  # never: keeps the touching loads alive
        n_out = 0
    return out_q[:n_out], out_s[:n_out], out_i[:n_out]
