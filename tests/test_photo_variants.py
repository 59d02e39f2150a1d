"""Border trimming, caption removal and bank crops for photo matching."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tahaluf.errors import InvalidInput
from tahaluf.signals.photo import load_photo, pdq_dihedral_from_rgb, pdq_from_rgb
from tahaluf.signals.photo_canonical import bank_canonical_hashes, canonical_copy, query_canonical_hashes
from tahaluf.signals.photo_variants import (
    Box,
    bank_crop_hashes,
    caption_box,
    query_variants,
    trim_box,
    trim_uniform_borders,
)

MATCH_BITS = 31


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def scene(seed: int = 0, size: tuple[int, int] = (480, 360), sky: bool = True) -> np.ndarray:
    """A street-like photo: sky gradient with noise, buildings, a road."""
    rng = np.random.default_rng(seed)
    width, height = size
    t = np.linspace(0, 1, height)[:, None, None]
    arr = (1 - t) * np.array([70, 120, 200]) + t * np.array([180, 210, 240])
    arr = np.broadcast_to(arr, (height, width, 3)).copy()
    image = Image.fromarray(arr.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    x = 0
    while x < width:
        bw = int(rng.integers(40, 120))
        top = int(rng.integers(height // 3 if sky else 0, height * 2 // 3))
        draw.rectangle((x, top, x + bw, height), fill=tuple(int(v) for v in rng.integers(30, 230, 3)))
        for wy in range(top + 8, height - 30, 22):
            for wx in range(x + 5, x + bw - 10, 16):
                draw.rectangle((wx, wy, wx + 7, wy + 10), fill=(250, 230, 150))
        x += bw + 4
    draw.rectangle((0, height - height // 10, width, height), fill=(60, 60, 65))
    out = np.asarray(image, np.float64) + rng.normal(0, 3, (height, width, 3))
    blurred = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(blurred)


def jpeg_roundtrip(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return load_photo(buf.getvalue())


def pad(rgb: np.ndarray, top: int, bottom: int, left: int, right: int, colour) -> np.ndarray:
    height, width = rgb.shape[:2]
    out = np.empty((height + top + bottom, width + left + right, 3), np.uint8)
    out[:] = colour
    out[top : top + height, left : left + width] = rgb
    return out


def near(box: Box, expected: Box, pixels: int = 2) -> bool:
    return all(abs(a - b) <= pixels for a, b in zip(box, expected))


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (30, 140, 60)])
def test_letterbox_bars_are_trimmed_back_to_the_photo(colour):
    photo = scene(1)
    boxed = jpeg_roundtrip(pad(photo, 90, 90, 0, 0, colour))
    box = trim_box(boxed)
    assert box is not None and near(box, Box(90, 450, 0, 480))
    trimmed = trim_uniform_borders(boxed)
    assert distance(pdq_from_rgb(np.ascontiguousarray(trimmed))[0], pdq_from_rgb(photo)[0]) <= MATCH_BITS
    # without trimming the letterboxed copy would not match
    assert distance(pdq_from_rgb(boxed)[0], pdq_from_rgb(photo)[0]) > MATCH_BITS


def test_pillarbox_after_heavy_jpeg_is_trimmed():
    photo = scene(2, (360, 480))
    boxed = jpeg_roundtrip(pad(photo, 0, 0, 247, 247, (0, 0, 0)), quality=30)
    box = trim_box(boxed)
    assert box is not None and near(box, Box(0, 480, 247, 607), pixels=3)


def test_photo_pasted_on_a_plain_canvas_is_found():
    photo = scene(3, (288, 216))
    canvas = jpeg_roundtrip(pad(photo, 40, 104, 150, 42, (240, 240, 240)))
    box = trim_box(canvas)
    assert box is not None and near(box, Box(40, 256, 150, 438))
    names = [name for name, _, _ in query_variants(canvas)]
    assert names == ["trimmed"]
    hashes = {name: h for name, h, _ in query_variants(canvas)}
    assert distance(hashes["trimmed"], pdq_from_rgb(photo)[0]) <= MATCH_BITS


def test_unedited_photo_with_a_flat_sky_is_not_trimmed():
    # a sky band at the top and a road band at the bottom, both flat
    photo = jpeg_roundtrip(scene(4, sky=True))
    assert trim_box(photo) is None
    assert trim_uniform_borders(photo) is None
    assert caption_box(photo) is None
    assert query_variants(photo) == []


def test_uniform_band_on_one_side_only_is_kept():
    # a photo with a flat floor along one edge is not a letterbox
    photo = pad(scene(5), 0, 80, 0, 0, (200, 200, 200))
    assert trim_box(jpeg_roundtrip(photo)) is None


def test_caption_bar_is_removed_for_the_query():
    photo = scene(6)
    height, width = photo.shape[:2]
    image = Image.new("RGB", (width, height + 60), (200, 20, 30))
    image.paste(Image.fromarray(photo), (0, 60))
    ImageDraw.Draw(image).text(
        (15, 14), "City news: the market opens on Sunday", fill=(255, 255, 255),
        font=ImageFont.load_default(size=26),
    )
    captioned = jpeg_roundtrip(np.asarray(image))
    box = caption_box(captioned)
    assert box is not None and near(box, Box(60, height + 60, 0, width))
    assert distance(pdq_from_rgb(captioned)[0], pdq_from_rgb(photo)[0]) > MATCH_BITS
    variants = {name: h for name, h, _ in query_variants(captioned)}
    assert distance(variants["caption"], pdq_from_rgb(photo)[0]) <= MATCH_BITS


def test_small_crop_of_a_bank_photo_matches_a_bank_crop_hash():
    bank = scene(7, (640, 480))
    height, width = bank.shape[:2]
    dy, dx = round(height * 0.06), round(width * 0.06)
    query = jpeg_roundtrip(np.ascontiguousarray(bank[dy : height - dy, dx : width - dx]))
    query_hash = pdq_from_rgb(query)[0]
    assert distance(query_hash, pdq_from_rgb(bank)[0]) > MATCH_BITS
    crops = bank_crop_hashes(bank)
    assert crops and all(name != "trimmed" for name, _, _ in crops)
    assert min(distance(query_hash, h) for _, h, _ in crops) <= MATCH_BITS


def test_letterboxed_bank_photo_also_stores_its_content_hash():
    photo = scene(8)
    crops = dict((name, h) for name, h, _ in bank_crop_hashes(pad(photo, 70, 70, 0, 0, (0, 0, 0))))
    assert distance(crops["trimmed"], pdq_from_rgb(photo)[0]) <= MATCH_BITS


def test_different_photos_do_not_match_each_others_variants():
    a, b = scene(10), scene(11)
    a_query = query_variants(pad(a, 60, 60, 0, 0, (0, 0, 0)))
    b_bank = [pdq_from_rgb(b)[0]] + [h for _, h, _ in bank_crop_hashes(b)]
    assert min(distance(h, x) for _, h, _ in a_query for x in b_bank) > MATCH_BITS


@pytest.mark.parametrize("colour", [0, 128, 255])
def test_fully_uniform_image_gives_nothing(colour):
    flat = np.full((300, 400, 3), colour, np.uint8)
    assert trim_box(flat) is None
    assert trim_uniform_borders(flat) is None
    assert caption_box(flat) is None
    assert query_variants(flat) == []
    # the crop hashes exist (quality 0) but do not crash
    assert all(quality == 0 for _, _, quality in bank_crop_hashes(flat))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 40), (40, 2), (17, 17)])
def test_tiny_images_do_not_crash(shape):
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert trim_uniform_borders(tiny) is None
    assert query_variants(tiny) == []
    for name, value, quality in bank_crop_hashes(tiny):
        assert len(value) == 64 and 0 <= quality <= 100 and name


def test_dihedral_variants_come_in_eights():
    boxed = pad(scene(12), 80, 80, 0, 0, (0, 0, 0))
    names = [name for name, _, _ in query_variants(boxed, dihedral=True)]
    assert len(names) == 8 and names[0] == "trimmed/original"


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)])
def test_bad_arrays_are_refused(bad):
    with pytest.raises(InvalidInput):
        trim_box(bad)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
)
def test_any_small_image_gives_a_box_inside_it(height, width, level, seed):
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), level, np.uint8)
    h0, w0 = rng.integers(0, height), rng.integers(0, width)
    img[h0:, w0:] = rng.integers(0, 256, (height - h0, width - w0, 3), dtype=np.uint8)
    for box in (trim_box(img), caption_box(img)):
        if box is not None:
            assert 0 <= box.top < box.bottom <= height and 0 <= box.left < box.right <= width
            assert (box.bottom - box.top, box.right - box.left) != (height, width)


# --- canonical copy: flips of low-texture photos, captions over the photo ---


def brick_wall(seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A brick wall: little low-frequency structure, the weak spot of PDQ."""
    rng = np.random.default_rng(seed)
    width, height = size
    arr = np.full((height, width, 3), 190.0)
    bh, bw = int(rng.integers(16, 30)), int(rng.integers(40, 80))
    for row, y in enumerate(range(0, height, bh + 3)):
        for x in range((row % 2) * bw // 2 - bw, width, bw + 3):
            arr[y : y + bh, max(0, x) : max(0, x + bw)] = np.array([170, 90, 60]) * (0.85 + 0.3 * rng.random())
    arr += rng.normal(0, 3, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def over_caption(photo: np.ndarray, fraction: float, bottom: bool, colour, alpha: float = 1.0) -> np.ndarray:
    """A band of ``colour`` with neutral text over the bottom or top ``fraction`` of the photo."""
    height = photo.shape[0]
    bar = round(height * fraction)
    rows = slice(height - bar, height) if bottom else slice(0, bar)
    arr = photo.astype(np.float64)
    arr[rows] = alpha * np.array(colour) + (1 - alpha) * arr[rows]
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    ink = (0, 0, 0) if sum(colour) > 400 else (255, 255, 255)
    ImageDraw.Draw(image).text(
        (12, (height - bar if bottom else 0) + bar // 4), "Weather: light rain in the north tomorrow",
        fill=ink, font=ImageFont.load_default(size=max(10, bar // 2)),
    )
    return jpeg_roundtrip(np.asarray(image))


def best_distance(query: np.ndarray, bank: np.ndarray) -> int:
    """Closest pair, the way the match engine compares a query with a bank photo."""
    query_hashes = pdq_dihedral_from_rgb(query)[0] + [
        h for _, h, _ in query_variants(query, dihedral=True) + query_canonical_hashes(query)
    ]
    bank_hashes = [pdq_from_rgb(bank)[0]] + [
        h for _, h, _ in bank_crop_hashes(bank) + bank_canonical_hashes(bank)
    ]
    return min(distance(q, b) for q in query_hashes for b in bank_hashes)


@pytest.mark.parametrize(
    "fraction, bottom, colour, alpha",
    [
        (0.10, True, (0, 0, 0), 1.0),
        (0.18, False, (250, 250, 250), 1.0),
        (0.25, True, (200, 20, 30), 1.0),
        (0.15, False, (110, 150, 215), 1.0),  # close to the sky it covers
        (0.22, True, (20, 60, 160), 0.6),  # translucent
    ],
)
def test_caption_band_over_the_photo_matches(fraction, bottom, colour, alpha):
    photo = scene(21, (640, 480))
    captioned = over_caption(photo, fraction, bottom, colour, alpha)
    assert distance(pdq_from_rgb(captioned)[0], pdq_from_rgb(photo)[0]) > MATCH_BITS
    assert best_distance(captioned, photo) <= MATCH_BITS


@pytest.mark.parametrize("turn", [Image.FLIP_LEFT_RIGHT, Image.FLIP_TOP_BOTTOM, Image.ROTATE_90, Image.ROTATE_270])
def test_low_texture_photo_flipped_or_rotated_matches(turn):
    wall = brick_wall(3)
    turned = jpeg_roundtrip(np.asarray(Image.fromarray(wall).transpose(turn)))
    assert best_distance(turned, wall) <= MATCH_BITS


def test_canonical_copy_turns_exactly_with_the_photo():
    wall = brick_wall(4, (641, 479))  # odd sizes: pdqhash's own grid is not symmetric there
    mirrored = np.ascontiguousarray(wall[:, ::-1])
    turned_back = canonical_copy(mirrored)[:, ::-1].astype(int)
    assert np.abs(turned_back - canonical_copy(wall)).mean() < 0.5  # rounding at box edges only
    names = dict((name, h) for name, h, _ in query_canonical_hashes(mirrored))
    own = dict((name, h) for name, h, _ in bank_canonical_hashes(wall))
    turned = min(distance(names[f"canonical/{o}"], own["canonical"]) for o in ("flipx", "flipy"))
    assert turned <= 4


def test_other_brick_walls_and_captioned_scenes_do_not_match():
    assert best_distance(jpeg_roundtrip(brick_wall(5)[:, ::-1].copy()), brick_wall(6)) > MATCH_BITS
    assert best_distance(over_caption(scene(22), 0.2, True, (0, 0, 0)), scene(23)) > MATCH_BITS


def test_canonical_hashes_of_any_size_and_bad_input():
    for shape in [(1, 1, 3), (2, 40, 3), (17, 17, 3)]:
        tiny = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        assert len(query_canonical_hashes(tiny)) == 10 and len(bank_canonical_hashes(tiny)) == 3
    with pytest.raises(InvalidInput):
        canonical_copy(np.zeros((10, 10), np.uint8))


def test_caption_added_in_the_photos_own_colour_is_removed():
    photo = scene(24, (640, 480))
    bottom_colour = tuple(int(v) + 6 for v in np.median(photo[-40:].reshape(-1, 3), axis=0))
    image = Image.new("RGB", (640, 480 + 90), bottom_colour)
    image.paste(Image.fromarray(photo), (0, 0))
    ImageDraw.Draw(image).text(
        (20, 480 + 25), "Library hours: open late on Thursdays", fill=(255, 255, 255),
        font=ImageFont.load_default(size=36),
    )
    captioned = jpeg_roundtrip(np.asarray(image))
    box = caption_box(captioned)
    assert box is not None and near(box, Box(0, 480, 0, 640))
    variants = {name: h for name, h, _ in query_variants(captioned)}
    assert distance(variants["caption"], pdq_from_rgb(photo)[0]) <= MATCH_BITS
