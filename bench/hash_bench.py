"""Hashing speed, tahaluf vs the reference tools, side by side in one run.

    .venv/bin/python bench/hash_bench.py [--photos N] [--posts N] [--rounds R]

Photos: the same photo set (generated 1280x960 JPEGs plus the PDQ reference
images) hashed by python-threatexchange's ``PdqSignal.hash_from_file`` and by
tahaluf, with one process and with every core. tahaluf's figure is for what
``tahaluf hash`` computes per photo (PDQ + the 8 dihedral hashes); the
"pdq-only" row hashes just the one PDQ like the reference does.

Text: tweet-length Arabic posts turned into tahaluf ``text`` signals (batch
path) vs ``datasketch.MinHash(num_perm=128)`` fed the same normalised
shingles (normalisation and shingling time included on both sides).

Machines are noisy: read the ratios, not the absolute figures. Each figure is
the best of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_IMAGES = ROOT / ".." / "shared" / "reference" / "pdq" / "images"


def make_photo_set(folder: Path, n: int) -> list[Path]:
    """n generated 1280x960 JPEGs (smooth gradients + shapes + noise, like photos)."""
    rng = np.random.default_rng(1234)
    paths = []
    yy, xx = np.mgrid[0:960, 0:1280]
    for i in range(n):
        a, b = rng.uniform(0.002, 0.02, 2)
        base = np.stack(
            [127 + 100 * np.sin(a * xx + i), 127 + 100 * np.cos(b * yy), 127 + 60 * np.sin(a * yy + b * xx)],
            axis=-1,
        )
        base += rng.normal(0, 12, base.shape)
        img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(8):
            x, y, r = rng.integers(0, 1280), rng.integers(0, 960), rng.integers(20, 200)
            d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        p = folder / f"photo{i:03d}.jpg"
        img.save(p, quality=88)
        paths.append(p)
    refs = sorted(
        p for p in REFERENCE_IMAGES.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    return paths + refs


# --- the workers (top level so a process pool can run them) -----------------

def pytx_hash(path: Path) -> str:
    from threatexchange.signal_type.pdq.signal import PdqSignal

    return PdqSignal.hash_from_file(path)


def tahaluf_pdq_only(path: Path) -> str:
    from tahaluf.signals.photo import load_photo, pdq_from_rgb

    return pdq_from_rgb(load_photo(path.read_bytes()))[0]


def tahaluf_hash(path: Path) -> str:
    from tahaluf.signals.photo import hash_photo

    return hash_photo(path.read_bytes()).value


def best_rate(func: Callable[[Path], str], paths: Sequence[Path], jobs: int, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        if jobs == 1:
            for p in paths:
                func(p)
        else:
            with ProcessPoolExecutor(jobs) as pool:
                list(pool.map(func, paths, chunksize=4))
        best = max(best, len(paths) / (time.perf_counter() - t0))
    return best


def bench_photos(n: int, rounds: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photo_set(Path(tmp), n)
        # warm up imports and the page cache on both sides
        for p in paths[:3]:
            pytx_hash(p), tahaluf_hash(p)
        print(f"\nPhotos: {len(paths)} files ({n} generated 1280x960 JPEG + reference images)")
        print(f"{'jobs':>4}  {'pytx photos/s':>14}  {'tahaluf photos/s':>17}  {'ratio':>6}  {'pdq-only/s':>11}  {'ratio':>6}")
        for j in sorted({1, jobs}):
            ref = best_rate(pytx_hash, paths, j, rounds)
            ours = best_rate(tahaluf_hash, paths, j, rounds)
            only = best_rate(tahaluf_pdq_only, paths, j, rounds)
            print(f"{j:>4}  {ref:>14.1f}  {ours:>17.1f}  {ours / ref:>5.2f}x  {only:>11.1f}  {only / ref:>5.2f}x")
        ref1 = best_rate(pytx_hash, paths, 1, rounds)
        ours_all = best_rate(tahaluf_hash, paths, jobs, rounds)
        print(f"tahaluf with {jobs} cores vs the reference on one: {ours_all / ref1:.2f}x")


def bench_text(n: int, rounds: int) -> None:
    from tahaluf.signals import text as textmod

    posts = textmod.demo_posts(n) if hasattr(textmod, "demo_posts") else _posts(n)
    from datasketch import MinHash

    from tahaluf.signals.normalize import normalize_text

    def shingles(post: str) -> list[bytes]:
        norm = normalize_text(post).ljust(textmod.SHINGLE_CHARS)
        n = textmod.SHINGLE_CHARS
        return list({norm[i : i + n].encode("utf-8") for i in range(len(norm) - n + 1)})

    def datasketch_run() -> None:
        for post in posts:
            m = MinHash(num_perm=128)
            m.update_batch(shingles(post))

    def tahaluf_run() -> None:
        textmod.text_sketches(posts)

    def rate(fn: Callable[[], None]) -> float:
        best = 0.0
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            best = max(best, len(posts) / (time.perf_counter() - t0))
        return best

    ds, ours = rate(datasketch_run), rate(tahaluf_run)
    print(f"\nText: {len(posts)} tweet-length Arabic posts, one core")
    print(f"datasketch.MinHash(128): {ds:,.0f} posts/s   tahaluf text: {ours:,.0f} posts/s   ratio {ours / ds:.2f}x")


def _posts(n: int) -> list[str]:
    rng = np.random.default_rng(7)
    words = (
        "الطقس المدينة السوق الحديقة المدرسة الملعب القطار المكتبة الخبز المطر الشمس النهر "
        "الأطفال العائلة الطريق الحافلة المساء الصباح الأسبوع الجمعة الموسم الحصاد الفريق "
        "المباراة الجمهور البلدية المعرض الكتاب الموسيقى الشاي القهوة الفاكهة الخضار"
    ).split()
    out = []
    for _ in range(n):
        k = int(rng.integers(30, 45))
        out.append(" ".join(rng.choice(words, k)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=40, help="generated photos (default 40)")
    ap.add_argument("--posts", type=int, default=5000, help="text posts (default 5000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", choices=["photos", "text"], default=None)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    if args.only in (None, "photos"):
        bench_photos(args.photos, args.rounds, args.jobs)
    if args.only in (None, "text"):
        bench_text(args.posts, args.rounds)


if __name__ == "__main__":
    main()
