"""Text lookups/s and recall: tahaluf TextIndex vs datasketch vs python-threatexchange.

    .venv/bin/python bench/text_index_bench.py [--sizes 100000,1000000] [--queries 2000]
        [--batch 256] [--datasketch-max 100000] [--pytx-bank 10000] [--pytx-queries 5]

Bank: neutral tweet-length Arabic posts (200-280 characters) drawn with Zipf
(s = 1) word frequencies from a 4,000-word vocabulary: 60 frequent real
function words and 3,940 generated words (random three-letter roots in
common Arabic patterns, with and without the article and suffixes).
Queries: five equal groups -- a bank post with diacritics sprinkled on, the
first 60% of a bank post, a bank post with 10% of its words replaced, a bank
post quoted inside a longer neutral text, and an unrelated fresh post.

"recall (edits)" counts edited queries whose source post is returned;
"recall vs brute force" counts every (query, bank item) pair that the exact
rule accepts (similarity >= 0.4, or containment >= 0.5 either way with the
40-shingle rule), found by an exhaustive inverted-index count. Times are CPU
seconds of this process (``time.process_time``), numpy single-threaded.
TextIndex is timed twice over the same queries: one ``query`` call per query,
and ``query_many`` in batches of ``--batch``; the two result lists must be equal.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tahaluf.index.text import TextIndex  # noqa: E402
from tahaluf.signals.text import (  # noqa: E402
    DEFAULT_MIN_CONTAINMENT,
    DEFAULT_MIN_SIMILARITY,
    MIN_CONTAINED_SHINGLES,
    TextSketch,
    text_sketches,
)

COMMON = (
    "في من على إلى عن مع هذا هذه التي الذي كان قد لا ما أن إن و ثم كل بعد قبل عند حتى "
    "اليوم يوم غدا أمس المدينة السوق الطقس الناس الماء البيت الطريق الحافلة المطر الشمس "
    "الخبز الفريق المباراة الملعب السعر الأسبوع الصباح المساء الليل الجديد الكبير الصغير "
    "هناك هنا أيضا جدا بين فوق تحت خلال حول نحو أكثر أقل"
).split()
LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"
PATTERNS = ["{0}{1}{2}", "{0}ا{1}{2}", "م{0}{1}و{2}", "ت{0}{1}ي{2}", "{0}{1}ا{2}", "{0}{1}ي{2}",
            "م{0}{1}{2}", "{0}{1}{2}ة", "ي{0}{1}{2}", "ا{0}ت{1}ا{2}"]
SUFFIXES = ["", "", "", "", "ات", "ة", "ون", "ين", "ها"]
HARAKAT = "\u064e\u064f\u0650\u0651\u0652\u064b\u064c\u064d"
KINDS = ("diacritics", "truncate60", "substitute10", "quoted", "unrelated")


def vocabulary(size: int = 4_000, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    words, seen = list(COMMON), set(COMMON)
    while len(words) < size:
        root = [rng.choice(LETTERS) for _ in range(3)]
        word = rng.choice(PATTERNS).format(*root) + rng.choice(SUFFIXES)
        if rng.random() < 0.4:
            word = "ال" + word
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """Zipf-distributed neutral Arabic posts, reproducible from a seed."""

    def __init__(self, seed: int = 1) -> None:
        self.words = vocabulary()
        p = 1.0 / np.arange(1, len(self.words) + 1)
        self.cum = np.cumsum(p / p.sum())
        self.rng = np.random.default_rng(seed)
        self.lengths = np.array([len(w) + 1 for w in self.words])

    def posts(self, count: int) -> list[str]:
        out: list[str] = []
        for begin in range(0, count, 20_000):
            n = min(20_000, count - begin)
            rows = np.searchsorted(self.cum, self.rng.random((n, 70)))
            rows = np.minimum(rows, len(self.words) - 1)
            target = self.rng.integers(200, 281, n)
            ends = np.cumsum(self.lengths[rows], axis=1)
            cut = (ends <= target[:, None] + 1).sum(axis=1)
            for row, k in zip(rows.tolist(), cut.tolist()):
                out.append(" ".join(self.words[i] for i in row[:k]))
        return out


def edit(rng: random.Random, kind: str, post: str, corpus: Corpus, filler: list[str]) -> str:
    if kind == "diacritics":
        return "".join(c + (rng.choice(HARAKAT) if c.isalpha() and rng.random() < 0.5 else "")
                       for c in post)
    if kind == "truncate60":
        return post[: len(post) * 6 // 10]
    if kind == "substitute10":
        words = post.split()
        for i in rng.sample(range(len(words)), max(1, len(words) // 10)):
            words[i] = corpus.words[rng.randrange(len(corpus.words))]
        return " ".join(words)
    if kind == "quoted":
        return f"{filler[0]} وجاء في المنشور: «{post}» {filler[1]}"
    raise ValueError(kind)


def make_queries(bank: list[str], count: int, corpus: Corpus, seed: int = 3):
    """(query texts, source bank index or -1, kind) for `count` queries."""
    rng = random.Random(seed)
    fresh = corpus.posts(count * 2)
    texts, sources, kinds = [], [], []
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        if kind == "unrelated":
            texts.append(fresh[2 * k])
            sources.append(-1)
        else:
            j = rng.randrange(len(bank))
            texts.append(edit(rng, kind, bank[j], corpus, fresh[2 * k : 2 * k + 2]))
            sources.append(j)
        kinds.append(kind)
    return texts, sources, kinds


def _flatten(sketches: list[TextSketch]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.fromiter((s.hashes.size for s in sketches), dtype=np.int64, count=len(sketches))
    return np.concatenate([s.hashes for s in sketches]), np.concatenate([[0], np.cumsum(sizes)])


def brute_force(bank: list[TextSketch], queries: list[TextSketch], chunk: int = 100_000) -> list[set[int]]:
    """Exact matches of every query: full inverted index of each bank chunk, overlap counted."""
    truth: list[set[int]] = [set() for _ in queries]
    for lo in range(0, len(bank), chunk):
        flat, off = _flatten(bank[lo : lo + chunk])
        sizes = np.diff(off)
        owner = np.repeat(np.arange(sizes.size, dtype=np.int32), sizes)
        order = np.argsort(flat, kind="stable")
        keys, owner = flat[order], owner[order]
        del order
        for qi, q in enumerate(queries):
            a, b = np.searchsorted(keys, q.hashes), np.searchsorted(keys, q.hashes, side="right")
            lengths = b - a
            idx = np.repeat(a - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
            inter = np.bincount(owner[idx], minlength=sizes.size)
            nq = q.hashes.size
            sim = inter / (nq + sizes - inter)
            ok = (sim >= DEFAULT_MIN_SIMILARITY) | (
                (inter >= DEFAULT_MIN_CONTAINMENT * nq) & (nq >= MIN_CONTAINED_SHINGLES)
            ) | ((inter >= DEFAULT_MIN_CONTAINMENT * sizes) & (sizes >= MIN_CONTAINED_SHINGLES))
            truth[qi].update((np.flatnonzero(ok) + lo).tolist())
    return truth


def score(found: list[set[int]], truth: list[set[int]], sources: list[int]) -> dict[str, float]:
    """Recall of the edited queries' sources (all queries), and of the exact
    pairs (the first len(truth) queries)."""
    pairs = sum(len(t) for t in truth)
    hit = sum(len(f & t) for f, t in zip(found, truth))
    edited = [(f, s) for f, s in zip(found, sources) if s >= 0]
    return {"recall_edits": sum(s in f for f, s in edited) / len(edited),
            "recall_vs_brute": hit / max(pairs, 1), "true_pairs": pairs,
            "extra": sum(len(f - t) for f, t in zip(found, truth))}


def bench_tahaluf(bank: list[TextSketch], queries: list[TextSketch], batch: int = 256) -> dict[str, object]:
    tracemalloc.start()
    t0 = time.process_time()
    index = TextIndex()
    index.add_many(list(range(len(bank))), bank)
    index.query(queries[0])  # merges the bulk load
    build = time.process_time() - t0
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.process_time()
    single = [index.query(q) for q in queries]
    spent = time.process_time() - t0
    t0 = time.process_time()
    many = [r for lo in range(0, len(queries), batch) for r in index.query_many(queries[lo : lo + batch])]
    spent_many = time.process_time() - t0
    assert many == single, "query_many must equal query"
    found = [{m.item_id for m in r} for r in many]
    return {"found": found, "lookups_s": len(queries) / spent, "many_s": len(queries) / spent_many,
            "build_s": build, "index_mb": current / 1e6, "build_peak_mb": peak / 1e6,
            "arrays_mb": index.nbytes / 1e6}


def bench_datasketch(bank: list[TextSketch], queries: list[TextSketch]) -> dict[str, object]:
    from datasketch import MinHash, MinHashLSH

    template = MinHash(num_perm=128)

    def minhash(sketch: TextSketch) -> MinHash:
        m = MinHash(num_perm=128, hashfunc=int, permutations=template.permutations,
                    scheme=template.scheme)
        m.update_batch(sketch.hashes.tolist())  # the same shingle hashes as tahaluf
        return m

    t0 = time.process_time()
    lsh = MinHashLSH(threshold=0.4, num_perm=128)
    with lsh.insertion_session() as session:
        for i, s in enumerate(bank):
            session.insert(i, minhash(s), check_duplication=False)
    build = time.process_time() - t0
    hashes = [minhash(q) for q in queries]
    t0 = time.process_time()
    found = [set(lsh.query(m)) for m in hashes]
    spent = time.process_time() - t0
    return {"found": found, "lookups_s": len(queries) / spent, "build_s": build}


def bench_pytx(bank_texts: list[str], query_texts: list[str], size: int, count: int) -> dict[str, object]:
    """python-threatexchange raw_text: Arabic behaviour, and its scan rate on a
    same-length Latin transliteration (it cannot compare Arabic)."""
    from threatexchange.signal_type.raw_text import RawTextSignal

    index_cls = RawTextSignal.get_index_cls()
    arabic = index_cls.build((t, i) for i, t in enumerate(bank_texts[:size]))
    errors = 0
    for q in query_texts[:count]:
        try:
            arabic.query(q)
        except UnicodeEncodeError:
            errors += 1
    table = {c: chr(97 + c % 26) for c in range(0x0600, 0x0700)}  # every Arabic code point
    latin = index_cls.build((t.translate(table), i) for i, t in enumerate(bank_texts[:size]))
    t0 = time.process_time()
    for q in query_texts[:count]:
        latin.query(q.translate(table))
    spent = time.process_time() - t0
    return {"arabic_errors": errors, "arabic_queries": count, "lookups_s_at_bank": count / spent,
            "bank": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--truth-queries", type=int, default=500,
                    help="queries checked against brute force (it is slow at 1M)")
    ap.add_argument("--batch", type=int, default=256, help="queries per query_many call")
    ap.add_argument("--datasketch-max", type=int, default=100_000)
    ap.add_argument("--pytx-bank", type=int, default=10_000)
    ap.add_argument("--pytx-queries", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    corpus = Corpus(args.seed)
    t0 = time.perf_counter()
    bank_texts = corpus.posts(max(sizes))
    bank_all = text_sketches(bank_texts)
    print(f"generated {len(bank_texts):,} posts (mean {np.mean([len(t) for t in bank_texts[:10000]]):.0f} chars, "
          f"{np.mean([len(s) for s in bank_all[:10000]]):.0f} shingles) in {time.perf_counter() - t0:.0f} s")
    pytx = bench_pytx(bank_texts, make_queries(bank_texts[: args.pytx_bank], args.pytx_queries, corpus)[0],
                      args.pytx_bank, args.pytx_queries)
    print(f"python-threatexchange raw_text on Arabic: {pytx['arabic_errors']}/{pytx['arabic_queries']} "
          "queries raise UnicodeEncodeError (weighted_levenshtein is ASCII-only)")
    print(f"python-threatexchange raw_text scan on a Latin transliteration: "
          f"{pytx['lookups_s_at_bank']:.2f} lookups/s at {pytx['bank']:,} posts")
    for size in sizes:
        bank = bank_all[:size]
        texts, sources, kinds = make_queries(bank_texts[:size], args.queries, corpus)
        queries = text_sketches(texts)
        t0 = time.perf_counter()
        truth = brute_force(bank, queries[: args.truth_queries])
        print(f"\n== bank {size:,} posts, {len(queries):,} queries "
              f"(brute-force truth for the first {len(truth):,} in {time.perf_counter() - t0:.0f} s)")
        ours = bench_tahaluf(bank, queries, args.batch)
        s = score(ours["found"], truth, sources)
        print(f"tahaluf TextIndex.query_many (batches of {args.batch}) {ours['many_s']:9,.0f} lookups/s")
        print(f"tahaluf TextIndex.query      {ours['lookups_s']:9,.0f} lookups/s  recall(edits) {s['recall_edits']:.4f}  "
              f"recall vs brute force {s['recall_vs_brute']:.4f} of {s['true_pairs']:,} pairs  wrong {s['extra']}  "
              "(both paths return the same lists)")
        print(f"    build {ours['build_s']:.1f} CPU s, index memory {ours['index_mb']:.0f} MB "
              f"(numpy arrays {ours['arrays_mb']:.0f} MB), build peak {ours['build_peak_mb']:.0f} MB")
        for kind in KINDS:
            sel = [i for i, k in enumerate(kinds) if k == kind]
            miss = sum(len(truth[i] - ours["found"][i]) for i in sel if i < len(truth))
            print(f"    {kind:13s} source found {sum(sources[i] in ours['found'][i] for i in sel)}/{len(sel)}"
                  if kind != "unrelated" else f"    {kind:13s} matches {sum(len(ours['found'][i]) for i in sel)}",
                  f" missed exact pairs {miss}")
        if size <= args.datasketch_max:
            ds = bench_datasketch(bank, queries)
            d = score(ds["found"], truth, sources)
            print(f"datasketch MinHashLSH  {ds['lookups_s']:9,.0f} lookups/s  recall(edits) {d['recall_edits']:.4f}  "
                  f"recall vs brute force {d['recall_vs_brute']:.4f}  non-matching candidates {d['extra']:,}  "
                  f"(build {ds['build_s']:.0f} CPU s)")
            print(f"    ratio tahaluf (query_many) / datasketch: {ours['many_s'] / ds['lookups_s']:.1f}x")
        else:
            print(f"datasketch MinHashLSH  not built at {size:,} (--datasketch-max {args.datasketch_max:,}: "
                  "building it takes too long)")
        rate = pytx["lookups_s_at_bank"] * pytx["bank"] / size
        print(f"pytx raw_text (extrapolated from {pytx['bank']:,}) {rate:9.3f} lookups/s; "
              f"ratio tahaluf (query_many) / pytx: {ours['many_s'] / rate:,.0f}x (and it cannot compare Arabic at all)")


if __name__ == "__main__":
    main()
