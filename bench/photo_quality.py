"""Photo matching quality on the project's own edit suite.

    .venv/bin/python bench/photo_quality.py            # the table in docs/photo-robustness.md
    .venv/bin/python bench/photo_quality.py --sweep    # choose the bank crops
    .venv/bin/python bench/photo_quality.py --speed    # cost of the variants

Sources: 60 procedurally generated photos (landscapes, streets, rooms,
textures, portraits-like scenes; seeded, so every run is identical) plus the
upstream PDQ reference photos (bridge and labelme-subset), read in place from
``../shared/reference``. Each source gets each edit a repost introduces; the
edited copy is JPEG-encoded (quality 90, or 30 for the JPEG edit) like a
re-upload. Columns:

* ``pytx``: python-threatexchange's default, plain PDQ of both files at full
  size (``pdq_from_bytes``), match at distance <= 31.
* ``dihedral``: tahaluf without variants: the query's 8 dihedral hashes
  against the bank photo's hash.
* ``tahaluf``: query = 8 dihedral hashes + ``query_variants``; bank =
  original hash + ``bank_crop_hashes``.

A wrong match is an edited copy within 31 bits of any hash of another source.
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from tahaluf.signals import photo_variants as pv
from tahaluf.signals.photo import load_photo, pdq_dihedral_from_rgb, pdq_from_rgb

THRESHOLD = 31
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "pdq" / "images"
REFERENCE_FILES = ["bridge-mods/aaa-orig.jpg"] + [
    f"reg-test-input/labelme-subset/{n}.jpg"
    for n in ("q0003", "q0004", "q0122", "q0291", "q0746", "q1050", "q2821")
]
N_GENERATED = 60
SIZES = [(640, 480), (800, 600), (720, 540), (600, 800), (768, 512), (512, 512), (960, 540), (480, 640)]
CAPTIONS = [
    "Weather: sunny spells this afternoon, 24 degrees",
    "City news: the new bridge opens on Sunday",
    "Football: the home side wins the cup 2-1",
    "Cooking: a simple lentil soup for cold evenings",
    "Market report: fresh dates and oranges today",
]


# --------------------------------------------------------------------------
# procedural photos


def _noise_field(rng: np.random.Generator, size: tuple[int, int], octaves: int = 5) -> np.ndarray:
    """Multi-scale smooth noise in [0, 1], shape (H, W)."""
    width, height = size
    out = np.zeros((height, width), np.float32)
    amp, total = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 1)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        layer = Image.fromarray(grid, mode="F").resize((width, height), Image.BICUBIC)
        out += amp * np.asarray(layer)
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(1e-6, float(out.max() - out.min()))


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _vertical_gradient(size, top, bottom) -> np.ndarray:
    width, height = size
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    grad = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.broadcast_to(grad, (height, width, 3)).copy()


def _finish(arr: np.ndarray, rng: np.random.Generator, blur: float = 0.8) -> np.ndarray:
    arr = arr + rng.normal(0, 3.0, arr.shape).astype(np.float32)  # sensor noise
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(blur)))


def _landscape(rng, size) -> np.ndarray:
    width, height = size
    sky = _vertical_gradient(size, _colour(rng, 40, 200), _colour(rng, 150, 256))
    arr = sky + 25 * (_noise_field(rng, size, 4)[..., None] - 0.5)  # clouds
    xs = np.arange(width)
    for layer in range(int(rng.integers(1, 4))):
        base = height * (0.35 + 0.15 * layer + 0.1 * rng.random())
        walk = np.cumsum(rng.normal(0, 3 + 3 * rng.random(), width))
        ridge = base + walk - walk.mean() + 30 * np.sin(xs / (40 + 80 * rng.random()) + rng.random() * 6)
        mask = np.arange(height)[:, None] > ridge[None, :]
        tex = _noise_field(rng, size, 6)[..., None]
        col = np.array(_colour(rng, 20, 180), np.float32)
        arr = np.where(mask[..., None], col * (0.6 + 0.8 * tex), arr)
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 12))):  # trees and rocks
        x, y = rng.integers(0, width), rng.integers(height // 2, height)
        r = int(rng.integers(8, 60))
        draw.ellipse((x - r, y - 2 * r, x + r, y), fill=_colour(rng, 0, 120))
    if rng.random() < 0.5:
        x, y, r = rng.integers(0, width), rng.integers(0, height // 3), int(rng.integers(15, 50))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, 200, 256))
    return _finish(np.asarray(image, np.float32), rng)


def _street(rng, size) -> np.ndarray:
    width, height = size
    arr = _vertical_gradient(size, _colour(rng, 60, 220), _colour(rng, 100, 256))
    image = Image.fromarray(arr.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    x = int(rng.integers(-40, 0))
    while x < width:
        bw = int(rng.integers(50, 180))
        top = int(rng.integers(height // 10, height * 2 // 3))
        col = _colour(rng, 30, 230)
        draw.rectangle((x, top, x + bw, height), fill=col)
        win = _colour(rng, 0, 256)
        for wy in range(top + 10, height - 40, int(rng.integers(18, 40))):
            for wx in range(x + 6, x + bw - 12, int(rng.integers(14, 30))):
                if rng.random() < 0.7:
                    draw.rectangle((wx, wy, wx + 8, wy + 12), fill=win)
        x += bw + int(rng.integers(0, 20))
    draw.rectangle((0, height - height // 8, width, height), fill=_colour(rng, 20, 90))
    return _finish(np.asarray(image, np.float32), rng, 1.0)


def _room(rng, size) -> np.ndarray:
    width, height = size
    wall = np.array(_colour(rng, 80, 240), np.float32)
    arr = wall * (0.85 + 0.3 * _noise_field(rng, size, 3)[..., None])
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    table = int(height * (0.5 + 0.3 * rng.random()))
    draw.rectangle((0, table, width, height), fill=_colour(rng, 40, 200))
    for _ in range(int(rng.integers(2, 8))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(height // 4, height))
        w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((cx - w, cy - h, cx + w, cy + h // 3), fill=_colour(rng), outline=_colour(rng, 0, 60))
    return _finish(np.asarray(image, np.float32), rng, 1.5)


def _texture(rng, size) -> np.ndarray:
    field = _noise_field(rng, size, 7)
    stops = np.array([_colour(rng) for _ in range(4)], np.float32)
    idx = field * 3
    lo = np.clip(idx.astype(int), 0, 2)
    frac = (idx - lo)[..., None]
    arr = stops[lo] * (1 - frac) + stops[lo + 1] * frac
    if rng.random() < 0.5:  # stripes, fabric-like
        xs = np.arange(size[0])[None, :] + 40 * field
        arr *= (0.8 + 0.2 * np.sin(xs / (3 + 10 * rng.random())))[..., None]
    return _finish(arr, rng, 0.6)


def _portrait(rng, size) -> np.ndarray:
    width, height = size
    back = _noise_field(rng, size, 3)[..., None]
    arr = np.array(_colour(rng, 0, 200), np.float32) * (0.5 + back)
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx = int(width * (0.3 + 0.4 * rng.random()))
    head = int(min(width, height) * (0.12 + 0.1 * rng.random()))
    top = int(height * (0.15 + 0.2 * rng.random()))
    draw.ellipse((cx - 3 * head, top + 2 * head, cx + 3 * head, height + head), fill=_colour(rng))
    draw.ellipse((cx - head, top, cx + head, top + int(2.4 * head)), fill=_colour(rng, 90, 240))
    return _finish(np.asarray(image, np.float32), rng, 2.0)


KINDS = [_landscape, _street, _room, _texture, _portrait]


def generated_photo(index: int) -> np.ndarray:
    """Deterministic, varied photo number ``index`` as (H, W, 3) uint8."""
    rng = np.random.default_rng(1000 + index)
    size = SIZES[int(rng.integers(0, len(SIZES)))]
    return KINDS[index % len(KINDS)](rng, size)


# --------------------------------------------------------------------------
# edits


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _resize(im: Image.Image, i: int) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.LANCZOS)


def _crop6(im: Image.Image, i: int) -> Image.Image:
    dx, dy = round(im.width * 0.06), round(im.height * 0.06)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _caption(im: Image.Image, i: int) -> Image.Image:
    bar = max(24, round(im.height * (0.10 + 0.02 * (i % 4))))
    colours = [(255, 255, 255), (0, 0, 0), (200, 20, 30), (20, 60, 160), (245, 200, 0)]
    back = colours[i % len(colours)]
    ink = (0, 0, 0) if sum(back) > 400 else (255, 255, 255)
    out = Image.new("RGB", (im.width, im.height + bar), back)
    below = i % 2 == 1
    out.paste(im, (0, 0 if below else bar))
    font = ImageFont.load_default(size=max(10, bar // 2))
    draw = ImageDraw.Draw(out)
    y = (im.height if below else 0) + bar // 4
    draw.text((bar // 3, y), CAPTIONS[i % len(CAPTIONS)], fill=ink, font=font)
    return out


def _letterbox(im: Image.Image, i: int) -> Image.Image:
    w, h = im.size
    if w / h < 16 / 9 - 0.01:  # pillarbox into a 16:9 frame
        size = (round(h * 16 / 9), h)
    else:  # letterbox into a 4:3 frame
        size = (w, round(w * 3 / 4))
    out = Image.new("RGB", size, (0, 0, 0))
    out.paste(im, ((size[0] - w) // 2, (size[1] - h) // 2))
    return out


def _canvas(im: Image.Image, i: int) -> Image.Image:
    backs = [(255, 255, 255), (240, 240, 240), (30, 30, 30), (0, 0, 0), (225, 235, 245)]
    out = Image.new("RGB", im.size, backs[i % len(backs)])
    small = im.resize((round(im.width * 0.6), round(im.height * 0.6)), Image.LANCZOS)
    rng = np.random.default_rng(i)
    x = int(rng.integers(0, im.width - small.width + 1))
    y = int(rng.integers(0, im.height - small.height + 1))
    out.paste(small, (x, y))
    return out


EDITS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "resize 50%": _resize,
    "jpeg q30": lambda im, i: im,
    "crop 6%/side": _crop6,
    "caption bar": _caption,
    "brightness +30%": lambda im, i: ImageEnhance.Brightness(im).enhance(1.3),
    "grayscale": lambda im, i: im.convert("L").convert("RGB"),
    "mirror": lambda im, i: im.transpose(Image.FLIP_LEFT_RIGHT),
    "rotate 90": lambda im, i: im.transpose(Image.ROTATE_90),
    "letterbox": _letterbox,
    "plain canvas": _canvas,
}


def edited_bytes(name: str, image: Image.Image, index: int) -> bytes:
    return _jpeg(EDITS[name](image, index), 30 if name == "jpeg q30" else 90)


# --------------------------------------------------------------------------
# matching


@dataclass
class Source:
    name: str
    data: bytes
    image: Image.Image


def load_sources() -> list[Source]:
    sources = []
    for i in range(N_GENERATED):
        image = Image.fromarray(generated_photo(i))
        sources.append(Source(f"gen{i:02d}", _jpeg(image, 95), image))
    for rel in REFERENCE_FILES:
        data = (REFERENCE / rel).read_bytes()
        sources.append(Source(rel.rsplit("/", 1)[-1], data, Image.open(io.BytesIO(data)).convert("RGB")))
    return sources


def _ints(hashes) -> np.ndarray:
    return np.array([[int(h[i : i + 16], 16) for i in range(0, 64, 16)] for h in hashes], np.uint64)


def min_distance(query: np.ndarray, bank: np.ndarray) -> int:
    """Smallest Hamming distance between any query hash and any bank hash."""
    x = query[:, None, :] ^ bank[None, :, :]
    return int(np.bitwise_count(x).sum(axis=2).min())


def bank_hashes(data: bytes, crops: bool = True) -> list[str]:
    rgb = load_photo(data, min_side=512)
    out = [pdq_from_rgb(rgb)[0]]
    if crops:
        out += [h for _, h, _ in pv.bank_crop_hashes(rgb)]
    return out


def query_hashes(data: bytes, variants: bool = True) -> list[str]:
    rgb = load_photo(data, min_side=512)
    out = pdq_dihedral_from_rgb(rgb)[0]
    if variants:
        out += [h for _, h, _ in pv.query_variants(rgb)]
    return out


def evaluate(sources: list[Source]) -> None:
    n = len(sources)
    base_bank = [_ints([pdq_from_bytes(s.data)[0]]) for s in sources]
    plain_bank = [_ints(bank_hashes(s.data, crops=False)) for s in sources]
    full_bank = [_ints(bank_hashes(s.data)) for s in sources]
    extra = sum(len(b) - 1 for b in full_bank)
    print(f"sources: {n} ({N_GENERATED} generated, {n - N_GENERATED} reference); "
          f"bank hashes per photo: {sum(len(b) for b in full_bank) / n:.2f} ({extra} extra)")
    _originals_report(sources, base_bank)
    print(f"\n{'edit':<17}{'pytx':>7}{'dihedral':>10}{'tahaluf':>9}{'wrong pytx':>12}"
          f"{'wrong tahaluf':>15}{'q-variants':>12}")
    for edit in EDITS:
        hit = {"pytx": 0, "dihedral": 0, "tahaluf": 0}
        wrong = {"pytx": 0, "tahaluf": 0}
        n_var = 0
        misses = []
        for i, src in enumerate(sources):
            data = edited_bytes(edit, src.image, i)
            base_q = _ints([pdq_from_bytes(data)[0]])
            dih_q = query_hashes(data, variants=False)
            full_q_list = query_hashes(data)
            n_var += len(full_q_list) - 8
            dih_q, full_q = _ints(dih_q), _ints(full_q_list)
            hit["pytx"] += min_distance(base_q, base_bank[i]) <= THRESHOLD
            hit["dihedral"] += min_distance(dih_q, plain_bank[i]) <= THRESHOLD
            d = min_distance(full_q, full_bank[i])
            hit["tahaluf"] += d <= THRESHOLD
            if d > THRESHOLD:
                misses.append(f"{src.name}:{d}")
            for j in range(n):
                if j != i:
                    wrong["pytx"] += min_distance(base_q, base_bank[j]) <= THRESHOLD
                    wrong["tahaluf"] += min_distance(full_q, full_bank[j]) <= THRESHOLD
        print(f"{edit:<17}{hit['pytx'] / n:>7.2f}{hit['dihedral'] / n:>10.2f}{hit['tahaluf'] / n:>9.2f}"
              f"{wrong['pytx']:>12}{wrong['tahaluf']:>15}{n_var / n:>12.2f}")
        if misses:
            print(f"{'':<17}misses: {' '.join(misses)}")


def _originals_report(sources: list[Source], base_bank: list[np.ndarray]) -> None:
    n = len(sources)
    dists = [min_distance(base_bank[i], base_bank[j]) for i in range(n) for j in range(i + 1, n)]
    print(f"distinct source pairs within {THRESHOLD}: {sum(d <= THRESHOLD for d in dists)} "
          f"(closest pair {min(dists)} bits, median {int(np.median(dists))})")
    trimmed, captioned = [], []
    for src in sources:
        rgb = load_photo(src.data, min_side=512)
        if pv.trim_box(rgb) is not None:
            trimmed.append(src.name)
        if pv.caption_box(rgb) is not None:
            captioned.append(src.name)
    print(f"unedited originals trimmed: {len(trimmed)} {trimmed}; caption-cut: {len(captioned)} {captioned}")


def speed(sources: list[Source]) -> None:
    """Milliseconds per photo: decoding and hashing versus the variants."""
    photos = [_jpeg(s.image.resize((1600, 1200)), 90) for s in sources[:20]]
    boxed = [_jpeg(_letterbox(Image.open(io.BytesIO(d)), 0), 90) for d in photos]
    arrays = [load_photo(d, min_side=512) for d in photos]
    boxed_arrays = [load_photo(d, min_side=512) for d in boxed]
    rows = [
        ("decode 1600x1200 JPEG (min_side=512)", lambda: [load_photo(d, min_side=512) for d in photos]),
        ("8 dihedral PDQ hashes", lambda: [pdq_dihedral_from_rgb(a) for a in arrays]),
        ("query_variants, no borders", lambda: [pv.query_variants(a) for a in arrays]),
        ("query_variants, letterboxed", lambda: [pv.query_variants(a) for a in boxed_arrays]),
        ("bank_crop_hashes", lambda: [pv.bank_crop_hashes(a) for a in arrays]),
    ]
    for name, run in rows:
        run()
        start = time.perf_counter()
        for _ in range(3):
            run()
        print(f"{name:<40}{(time.perf_counter() - start) / 3 / len(photos) * 1000:>8.2f} ms")


def sweep(sources: list[Source]) -> None:
    """Recall of single central bank crops against symmetric query crops."""
    keeps = [0.97, 0.94, 0.91, 0.88, 0.85, 0.82]
    cuts = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    banks = []
    for src in sources:
        rgb = load_photo(src.data, min_side=512)
        height, width = rgb.shape[:2]
        row = [pdq_from_rgb(rgb)[0]]
        for keep in keeps:
            box = pv._central(height, width, keep)
            row.append(pdq_from_rgb(pv._cut(rgb, box))[0])
        row += [h for _, h, _ in pv.bank_crop_hashes(rgb)]
        banks.append(_ints(row))
    print("query crop per side vs bank: original only, + one central crop keeping K of each side")
    print(f"{'cut':>6}{'orig':>7}" + "".join(f"{k:>7.2f}" for k in keeps) + f"{'chosen':>8}{'wrong':>7}")
    for cut in cuts:
        hits = np.zeros(len(keeps) + 2, int)
        wrong = 0
        for i, src in enumerate(sources):
            im = src.image
            dx, dy = round(im.width * cut), round(im.height * cut)
            data = _jpeg(im.crop((dx, dy, im.width - dx, im.height - dy)))
            q = _ints(query_hashes(data, variants=False))
            for k in range(len(keeps) + 1):
                hits[k] += min_distance(q, banks[i][[0, k]] if k else banks[i][:1]) <= THRESHOLD
            chosen = np.concatenate([banks[i][:1], banks[i][len(keeps) + 1 :]])
            hits[-1] += min_distance(q, chosen) <= THRESHOLD
            wrong += sum(min_distance(q, banks[j]) <= THRESHOLD for j in range(len(sources)) if j != i)
        cells = "".join(f"{h / len(sources):>7.2f}" for h in hits[:-1])
        print(f"{cut:>6.0%}{cells}{hits[-1] / len(sources):>8.2f}{wrong:>7}")


def main(argv: list[str]) -> None:
    sources = load_sources()
    if "--speed" in argv:
        speed(sources)
    elif "--sweep" in argv:
        sweep(sources)
    else:
        evaluate(sources)


if __name__ == "__main__":
    main(sys.argv[1:])
