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

from photo_sources import LOW_TEXTURE_KINDS, generated_photo, low_texture_photo
from tahaluf.signals import photo_canonical as pc
from tahaluf.signals import photo_variants as pv
from tahaluf.signals.photo import load_photo, pdq_dihedral_from_rgb, pdq_from_rgb

THRESHOLD = 31
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "pdq" / "images"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
REFERENCE_FILES = ["bridge-mods/aaa-orig.jpg"] + [
    f"reg-test-input/labelme-subset/{n}.jpg"
    for n in ("q0003", "q0004", "q0122", "q0291", "q0746", "q1050", "q2821")
]
N_GENERATED = 60
N_LOW_TEXTURE = 4  # per kind, in the bank; as many more of each kind are negatives
N_NEGATIVE_GENERATED = 20
CAPTIONS = [
    "Weather: sunny spells this afternoon, 24 degrees",
    "City news: the new bridge opens on Sunday",
    "Football: the home side wins the cup 2-1",
    "Cooking: a simple lentil soup for cold evenings",
    "Market report: fresh dates and oranges today",
]



# --------------------------------------------------------------------------
# edits


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _downscale(factor: float, resample: int, quality: int = 90) -> Callable[[Image.Image, int], Image.Image]:
    def edit(im: Image.Image, i: int) -> Image.Image:
        size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
        return im.resize(size, resample)

    return edit


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


def _caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans (Debian ``fonts-dejavu-core``) if installed, else Pillow's default."""
    if DEJAVU.exists():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size=size)


def _band_colour(im: Image.Image, i: int, below: bool) -> tuple[int, int, int]:
    """Cycle: a random colour, white, black, and the photo's own colour next to the band."""
    rng = np.random.default_rng(7000 + i)
    kind = i % 4
    if kind == 0:
        return tuple(int(v) for v in rng.integers(0, 256, 3))
    if kind in (1, 2):
        return (255, 255, 255) if kind == 1 else (0, 0, 0)
    arr = np.asarray(im)
    edge = arr[-max(1, im.height // 10) :] if below else arr[: max(1, im.height // 10)]
    near = np.median(edge.reshape(-1, 3), axis=0) + rng.integers(-10, 11, 3)  # close to the photo's own
    return tuple(int(v) for v in np.clip(near, 0, 255))


def _draw_caption(out: Image.Image, top: int, bar: int, back: tuple[int, int, int], i: int) -> None:
    """Neutral text in the band ``[top, top + bar)``, one or two lines, left or centred."""
    ink = (0, 0, 0) if sum(back) > 400 else (255, 255, 255)
    lines = 2 if bar >= 80 else 1
    font = _caption_font(max(9, int(bar * (0.55 if lines == 1 else 0.32))))
    draw = ImageDraw.Draw(out)
    text = CAPTIONS[i % len(CAPTIONS)]
    words = text.split()
    rows = [text] if lines == 1 else [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    step = bar // (lines + 1)
    for n, row in enumerate(rows):
        width = draw.textlength(row, font=font)
        x = bar // 4 if i % 3 else max(2, int((out.width - width) / 2))
        y = top + step * (n + 1) - font.size // 2
        draw.text((x, y), row, fill=ink, font=font)


def _band_fraction(i: int) -> float:
    return 0.10 + 0.15 * ((i * 7) % 16) / 15  # 10-25% of the height


def _caption_added(im: Image.Image, i: int) -> Image.Image:
    """A band of 10-25% of the new height added above or below the photo."""
    below = i % 2 == 1
    bar = max(16, round(im.height * _band_fraction(i) / (1 - _band_fraction(i))))
    back = _band_colour(im, i, below)
    out = Image.new("RGB", (im.width, im.height + bar), back)
    out.paste(im, (0, 0 if below else bar))
    _draw_caption(out, im.height if below else 0, bar, back, i)
    return out


def _caption_over(alpha: float | None) -> Callable[[Image.Image, int], Image.Image]:
    """A band over the bottom or top 10-25% of the photo; opaque, or blended with
    ``alpha`` (``None``: 0.5-0.85 by photo)."""

    def edit(im: Image.Image, i: int) -> Image.Image:
        below = i % 2 == 0
        bar = max(16, round(im.height * _band_fraction(i)))
        back = _band_colour(im, i, below)
        a = alpha if alpha is not None else 0.5 + 0.35 * ((i * 5) % 8) / 7
        arr = np.asarray(im).astype(np.float32)
        rows = slice(im.height - bar, im.height) if below else slice(0, bar)
        arr[rows] = a * np.array(back, np.float32) + (1 - a) * arr[rows]
        out = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
        _draw_caption(out, im.height - bar if below else 0, bar, back, i)
        return out

    return edit


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
    "resize 50% bilinear": _downscale(0.5, Image.BILINEAR),
    "resize 50% nearest": _downscale(0.5, Image.NEAREST),
    "resize 50% box": _downscale(0.5, Image.BOX),
    "resize 50% q50": _downscale(0.5, Image.BICUBIC),
    "resize 33% bicubic": _downscale(1 / 3, Image.BICUBIC),
    "resize 75% bilinear": _downscale(0.75, Image.BILINEAR),
    "jpeg q30": lambda im, i: im,
    "crop 6%/side": _crop6,
    "caption bar": _caption,
    "caption added": _caption_added,
    "caption over": _caption_over(1.0),
    "caption translucent": _caption_over(None),
    "brightness +30%": lambda im, i: ImageEnhance.Brightness(im).enhance(1.3),
    "grayscale": lambda im, i: im.convert("L").convert("RGB"),
    "mirror": lambda im, i: im.transpose(Image.FLIP_LEFT_RIGHT),
    "flip": lambda im, i: im.transpose(Image.FLIP_TOP_BOTTOM),
    "rotate 90": lambda im, i: im.transpose(Image.ROTATE_90),
    "rotate 180": lambda im, i: im.transpose(Image.ROTATE_180),
    "rotate 270": lambda im, i: im.transpose(Image.ROTATE_270),
    "letterbox": _letterbox,
    "plain canvas": _canvas,
}
JPEG_QUALITY = {"jpeg q30": 30, "resize 50% q50": 50}


def edited_bytes(name: str, image: Image.Image, index: int) -> bytes:
    return _jpeg(EDITS[name](image, index), JPEG_QUALITY.get(name, 90))


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
    for kind in LOW_TEXTURE_KINDS:
        for i in range(N_LOW_TEXTURE):
            image = Image.fromarray(low_texture_photo(kind, i))
            sources.append(Source(f"{kind}{i}", _jpeg(image, 95), image))
    for rel in REFERENCE_FILES:
        data = (REFERENCE / rel).read_bytes()
        sources.append(Source(rel.rsplit("/", 1)[-1], data, Image.open(io.BytesIO(data)).convert("RGB")))
    return sources


def load_negatives() -> list[Source]:
    """Photos not in the bank: more of each low-texture kind (other bricks,
    gravel, skies...) and more generated scenes, to count wrong matches."""
    negatives = []
    for kind in LOW_TEXTURE_KINDS:
        for i in range(N_LOW_TEXTURE, 2 * N_LOW_TEXTURE):
            image = Image.fromarray(low_texture_photo(kind, i))
            negatives.append(Source(f"neg-{kind}{i}", _jpeg(image, 95), image))
    for i in range(N_GENERATED, N_GENERATED + N_NEGATIVE_GENERATED):
        image = Image.fromarray(generated_photo(i))
        negatives.append(Source(f"neg-gen{i:02d}", _jpeg(image, 95), image))
    return negatives


def _ints(hashes) -> np.ndarray:
    return np.array([[int(h[i : i + 16], 16) for i in range(0, 64, 16)] for h in hashes], np.uint64)


def min_distance(query: np.ndarray, bank: np.ndarray) -> int:
    """Smallest Hamming distance between any query hash and any bank hash."""
    x = query[:, None, :] ^ bank[None, :, :]
    return int(np.bitwise_count(x).sum(axis=2).min())


class Bank:
    """Every source's hashes in one array, to find all sources within the threshold."""

    def __init__(self, per_source: list[np.ndarray]) -> None:
        self.hashes = np.concatenate(per_source)
        self.owner = np.repeat(np.arange(len(per_source)), [len(b) for b in per_source])

    def matches(self, query: np.ndarray) -> set[int]:
        dist = np.bitwise_count(query[:, None, :] ^ self.hashes[None, :, :]).sum(axis=2)
        return set(self.owner[(dist <= THRESHOLD).any(axis=0)].tolist())


def bank_hashes(data: bytes, crops: bool = True) -> list[str]:
    rgb = load_photo(data, min_side=512)
    out = [pdq_from_rgb(rgb)[0]]
    if crops:
        out += [h for _, h, _ in pv.bank_crop_hashes(rgb) + pc.bank_canonical_hashes(rgb)]
    return out


def query_hashes(data: bytes, variants: bool = True) -> list[str]:
    rgb = load_photo(data, min_side=512)
    out = pdq_dihedral_from_rgb(rgb)[0]
    if variants:
        out += [h for _, h, _ in pv.query_variants(rgb) + pc.query_canonical_hashes(rgb)]
    return out


COLUMNS = ("pytx", "dihedral", "tahaluf")


def evaluate(sources: list[Source], negatives: list[Source], edits: list[str]) -> None:
    n = len(sources)
    banks = {
        "pytx": [_ints([pdq_from_bytes(s.data)[0]]) for s in sources],
        "dihedral": [_ints(bank_hashes(s.data, crops=False)) for s in sources],
        "tahaluf": [_ints(bank_hashes(s.data)) for s in sources],
    }
    index = {k: Bank(v) for k, v in banks.items()}
    extra = sum(len(b) - 1 for b in banks["tahaluf"])
    n_low = len(LOW_TEXTURE_KINDS) * N_LOW_TEXTURE
    print(f"sources: {n} ({N_GENERATED} generated, {n_low} low-texture, {n - N_GENERATED - n_low} reference); "
          f"negatives: {len(negatives)}; bank hashes per photo: {sum(len(b) for b in banks['tahaluf']) / n:.2f} "
          f"({extra} extra)")
    _originals_report(sources, banks["pytx"])
    print(f"\n{'edit':<21}{'pytx':>6}{'dihedral':>10}{'tahaluf':>9}{'wrong pytx':>12}"
          f"{'wrong tahaluf':>15}{'q-variants':>12}")
    total = {k: 0 for k in COLUMNS}
    total_wrong = {k: 0 for k in COLUMNS}
    for edit in edits:
        hit = {k: 0 for k in COLUMNS}
        wrong = {k: 0 for k in COLUMNS}
        n_var = 0
        misses = []
        for i, src in enumerate(sources + negatives):
            data = edited_bytes(edit, src.image, i)
            full = query_hashes(data)
            n_var += len(full) - 8
            queries = {"pytx": _ints([pdq_from_bytes(data)[0]]), "dihedral": _ints(full[:8]), "tahaluf": _ints(full)}
            for k in COLUMNS:
                found = index[k].matches(queries[k])
                if i < n:
                    hit[k] += i in found
                    found.discard(i)
                wrong[k] += len(found)
            if i < n and i not in index["tahaluf"].matches(queries["tahaluf"]):
                misses.append(f"{src.name}:{min_distance(queries['tahaluf'], banks['tahaluf'][i])}")
        for k in COLUMNS:
            total[k] += hit[k]
            total_wrong[k] += wrong[k]
        print(f"{edit:<21}{hit['pytx'] / n:>6.2f}{hit['dihedral'] / n:>10.2f}{hit['tahaluf'] / n:>9.2f}"
              f"{wrong['pytx']:>12}{wrong['tahaluf']:>15}{n_var / (n + len(negatives)):>12.2f}")
        if misses:
            print(f"{'':<21}misses: {' '.join(misses)}")
    runs = n * len(edits)
    print(f"{'all edits':<21}{total['pytx'] / runs:>6.3f}{total['dihedral'] / runs:>10.3f}"
          f"{total['tahaluf'] / runs:>9.3f}{total_wrong['pytx']:>12}{total_wrong['tahaluf']:>15}")


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
        ("query_canonical_hashes (10)", lambda: [pc.query_canonical_hashes(a) for a in arrays]),
        ("bank_canonical_hashes (3)", lambda: [pc.bank_canonical_hashes(a) for a in arrays]),
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
        only = [a for a in argv if not a.startswith("--")]
        edits = [e for e in EDITS if not only or any(o in e for o in only)]
        evaluate(sources, load_negatives(), edits)


if __name__ == "__main__":
    main(sys.argv[1:])
