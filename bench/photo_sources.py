"""Procedural photos for the photo benchmarks (seeded, so every run is identical).

``generated_photo(i)``: varied scenes (landscapes, streets, rooms, textures,
portrait-like scenes). ``low_texture_photo(i)``: the weak spot of PDQ, photos
with little low-frequency structure (brick walls, gravel, sky, sand, painted
walls), whose PDQ quality is low; each kind varies its scale, colours and
lighting with the seed, so two photos of one kind are "near-similar but
different" photos, the negatives of the suite.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZES = [(640, 480), (800, 600), (720, 540), (600, 800), (768, 512), (512, 512), (960, 540), (480, 640)]

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
# low-texture photos


def _brick(rng, size) -> np.ndarray:
    width, height = size
    mortar = np.array(_colour(rng, 150, 220), np.float32)
    base = np.array(_colour(rng, 90, 190), np.float32) * np.array([1.0, 0.6, 0.45])
    arr = np.broadcast_to(mortar, (height, width, 3)).copy()
    bh, bw = int(rng.integers(14, 34)), int(rng.integers(36, 90))
    gap = int(rng.integers(2, 5))
    for row, y in enumerate(range(-int(rng.integers(0, bh)), height, bh + gap)):
        shift = (row % 2) * (bw + gap) // 2 - int(rng.integers(0, bw))
        for x in range(shift, width, bw + gap):
            tone = base * (0.85 + 0.3 * rng.random())
            arr[max(0, y) : max(0, y + bh), max(0, x) : max(0, x + bw)] = tone
    light = 0.85 + 0.3 * _noise_field(rng, size, 2)[..., None]  # uneven daylight
    return _finish(arr * light, rng, 0.7)


def _gravel(rng, size) -> np.ndarray:
    width, height = size
    image = Image.new("RGB", size, _colour(rng, 80, 140))
    draw = ImageDraw.Draw(image)
    tint = np.array(_colour(rng, 60, 120), np.float32)
    stone = int(rng.integers(4, 11))
    for _ in range(width * height // (stone * stone)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(stone // 2, stone + 1))
        grey = tint + rng.integers(-40, 80)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in np.clip(grey, 0, 255)))
    arr = np.asarray(image, np.float32) * (0.9 + 0.2 * _noise_field(rng, size, 2)[..., None])
    return _finish(arr, rng, 0.6)


def _sky(rng, size) -> np.ndarray:
    top = (int(rng.integers(40, 110)), int(rng.integers(90, 160)), int(rng.integers(180, 250)))
    bottom = tuple(min(255, c + int(rng.integers(30, 90))) for c in top)
    arr = _vertical_gradient(size, top, bottom)
    arr += (8 + 12 * rng.random()) * (_noise_field(rng, size, 5)[..., None] - 0.5)  # thin cloud
    return _finish(arr, rng, 1.2)


def _sand(rng, size) -> np.ndarray:
    width, height = size
    colour = np.array(_colour(rng, 170, 235), np.float32) * np.array([1.0, 0.88, 0.66])
    field = _noise_field(rng, size, 4)
    ys = np.arange(height)[:, None] + 30 * field
    ripple = np.sin(ys / (4 + 8 * rng.random()) + rng.random() * 6)  # wind ripples
    arr = colour * (0.92 + 0.05 * ripple + 0.06 * field)[..., None]
    arr += rng.normal(0, 6, arr.shape)  # grain
    return _finish(arr, rng, 0.7)


def _wall(rng, size) -> np.ndarray:
    colour = np.array(_colour(rng, 120, 240), np.float32)
    plaster = _noise_field(rng, size, 6)[..., None]
    arr = colour * (0.93 + 0.1 * plaster)
    return _finish(arr, rng, 1.0)


LOW_TEXTURE_KINDS = {"brick": _brick, "gravel": _gravel, "sky": _sky, "sand": _sand, "wall": _wall}


def low_texture_photo(kind: str, index: int) -> np.ndarray:
    """Deterministic low-texture photo number ``index`` of ``kind``, (H, W, 3) uint8."""
    rng = np.random.default_rng(5000 + 97 * index + sorted(LOW_TEXTURE_KINDS).index(kind))
    size = SIZES[int(rng.integers(0, len(SIZES)))]
    return LOW_TEXTURE_KINDS[kind](rng, size)
