"""Photo decoding and PDQ hashing against the published reference data."""

from __future__ import annotations

import csv
import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont
from refdata import REFERENCE, needs_full
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from tahaluf.errors import ContentTooLarge, DecodeError, InvalidInput, UnsupportedContent
from tahaluf.signals.photo import (
    DEFAULT_MAX_PIXELS,
    DIHEDRAL_ORDER,
    bits_to_hex,
    hash_photo,
    hex_to_bits,
    image_to_rgb,
    load_photo,
    pdq_dihedral_from_rgb,
    pdq_from_rgb,
)

PDQ_REF = REFERENCE / "pdq"
IMAGES = PDQ_REF / "images"
EXPECTED_ROWS = list(csv.DictReader(io.StringIO((PDQ_REF / "expected.csv").read_text())))
MODE_FILES = sorted(p for p in (IMAGES / "misc-images" / "modes").iterdir() if p.suffix != ".md")
# Upstream tolerance between two implementations of PDQ on the same picture.
NEAR_BITS = 10

# Output of the C++ reference `pdq-photo-hasher` for upstream's EXIF samples,
# published in facebook/ThreatExchange pdq/sql/README.md ("Populate table").
EXIF_ROTN_CPP = {
    "exif-rotn-1.jpg": "f439d924da56a1d4c63973a56acfc926cd53d9341b18367d318666cf9b142649",
    "exif-rotn-3.jpg": "3acfa3cfab36b95e39cfa0023946790af441f1417d850401f7616005ffc17ff2",
    "exif-rotn-6.jpg": "e9782aad54ae0b6365315ac278592d68d4b5434a5fcd7471f7abcb594b481a94",
    "exif-rotn-8.jpg": "6b507c23b4adb07ec2fe2b4db52038b15e0c970fcaf3f049058ae8687bf9251e",
}
# Upstream's reg-test-input/dih files, in the order of DIHEDRAL_ORDER.
DIH_FILES = [
    "bridge-1-original.jpg",
    "bridge-2-rotate-90.jpg",
    "bridge-3-rotate-180.jpg",
    "bridge-4-rotate-270.jpg",
    "bridge-5-flipx.jpg",
    "bridge-6-flipy.jpg",
    "bridge-7-flip-plus-1.jpg",
    "bridge-8-flip-minus-1.jpg",
]
# Pillow transpose that produces each dihedral entry.
DIHEDRAL_TRANSPOSE = [
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
]
ALL_MODES = [
    "1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK",
    "YCbCr", "LAB", "HSV", "I", "I;16", "I;16L", "I;16B", "I;16N", "F",
]  # fmt: skip


def distance(a: str, b: str) -> int:
    return int(np.count_nonzero(hex_to_bits(a) != hex_to_bits(b)))


def read(rel: str) -> bytes:
    return (IMAGES / rel).read_bytes()


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def bridge() -> Image.Image:
    """The upstream bridge photo, quartered (400x251) to keep tests fast."""
    return Image.open(io.BytesIO(read("misc-images/modes/original.jpg"))).reduce(4)


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR announcing width x height, with no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    iend = b"IEND" + b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + crc
        + struct.pack(">I", 0) + iend + struct.pack(">I", zlib.crc32(iend))
    )  # fmt: skip


# --- golden vectors --------------------------------------------------------


@pytest.mark.parametrize("row", EXPECTED_ROWS, ids=[r["path"] for r in EXPECTED_ROWS])
def test_hash_matches_upstream_expected(row: dict[str, str]) -> None:
    signal = hash_photo((PDQ_REF / row["path"]).read_bytes())
    assert signal.type == "pdq"
    assert distance(signal.value, row["pdq"]) <= int(row["max_distance"])
    if row["quality"]:
        assert signal.extra["quality"] == int(row["quality"])


@pytest.mark.parametrize(
    "rel",
    [r for r in ["bridge-mods/aaa-orig.jpg", "misc-images/c.png", "pytx/LA.png", "pytx/I16.png"]
     if (IMAGES / r).exists()],
)
def test_same_hash_as_python_threatexchange(rel: str) -> None:
    data = read(rel)
    signal = hash_photo(data, min_side=None)
    assert (signal.value, signal.extra["quality"]) == pdq_from_bytes(data)
    fast = hash_photo(data)  # the default pre-shrink stays within the documented drift
    assert distance(fast.value, signal.value) <= 8


@needs_full
@pytest.mark.parametrize("name", sorted(EXIF_ROTN_CPP))
def test_exif_orientation_is_not_applied_like_the_cpp_reference(name: str) -> None:
    signal = hash_photo(read(f"reg-test-input/exif-rotn/{name}"))
    assert distance(signal.value, EXIF_ROTN_CPP[name]) <= NEAR_BITS


@needs_full
def test_load_photo_keeps_stored_pixel_order_despite_exif_rotation() -> None:
    data = read("reg-test-input/exif-rotn/exif-rotn-6.jpg")  # stored 4032x3024, tag "rotate 90"
    assert load_photo(data).shape == (3024, 4032, 3)


@needs_full
def test_preshrink_of_a_12_megapixel_photo_stays_close_to_full_size_hash() -> None:
    data = read("reg-test-input/exif-rotn/exif-rotn-3.jpg")
    full_hash, full_quality = pdq_from_rgb(load_photo(data))
    signal = hash_photo(data)
    assert distance(signal.value, full_hash) <= 8
    assert distance(hash_photo(data, min_side=1024).value, full_hash) <= 4
    assert signal.extra["quality"] == full_quality


# --- dihedral hashes ---------------------------------------------------------


@needs_full
def test_dihedral_order_matches_upstream_dih_files() -> None:
    dihedral = hash_photo(read("reg-test-input/dih/" + DIH_FILES[0])).extra["dihedral"]
    assert len(dihedral) == len(DIHEDRAL_ORDER) == 8
    for index, name in enumerate(DIH_FILES):
        transformed = hash_photo(read("reg-test-input/dih/" + name)).value
        distances = [distance(transformed, h) for h in dihedral]
        assert distances[index] <= NEAR_BITS, name
        assert min(d for i, d in enumerate(distances) if i != index) > 64, name


@pytest.fixture(scope="module")
def bridge_full() -> Image.Image:
    """The bridge photo at its upstream size, 1600x1004.

    (PDQ's box filter is not exactly symmetric: at small sizes such as
    400x251 a flipped copy can land 20-35 bits from the dihedral hash.)
    """
    return Image.open(io.BytesIO(read("misc-images/modes/original.jpg"))).convert("RGB")


@pytest.mark.parametrize("index", range(8), ids=list(DIHEDRAL_ORDER))
def test_dihedral_hash_equals_hash_of_transposed_copy(
    index: int, bridge_full: Image.Image
) -> None:
    dihedral, _ = pdq_dihedral_from_rgb(np.asarray(bridge_full))
    transpose = DIHEDRAL_TRANSPOSE[index]
    copy = bridge_full if transpose is None else bridge_full.transpose(transpose)
    signal = hash_photo(encode(copy, "BMP"))
    assert distance(signal.value, dihedral[index]) <= NEAR_BITS
    assert signal.extra["dihedral"][0] == signal.value


# --- modes and formats --------------------------------------------------------


@pytest.mark.parametrize("path", MODE_FILES, ids=[p.name for p in MODE_FILES])
def test_every_upstream_mode_file_hashes_like_the_original(path: Path) -> None:
    original = hash_photo(read("misc-images/modes/original.jpg"))
    signal = hash_photo(path.read_bytes())
    assert distance(signal.value, original.value) <= NEAR_BITS
    assert signal.extra["quality"] == original.extra["quality"]


def _in_mode(image: Image.Image, mode: str) -> Image.Image:
    return image.convert("L").convert(mode) if mode.startswith("I;16") else image.convert(mode)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_every_pillow_mode_converts_to_rgb_and_hashes_alike(
    mode: str, bridge: Image.Image
) -> None:
    reference, _ = pdq_from_rgb(np.asarray(bridge))
    rgb = image_to_rgb(_in_mode(bridge, mode))
    assert rgb.dtype == np.uint8
    assert rgb.shape == (bridge.height, bridge.width, 3)
    assert distance(pdq_from_rgb(rgb)[0], reference) <= NEAR_BITS


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("RGBA", "PNG"),
        ("I;16", "PNG"), ("I;16B", "TIFF"), ("I", "TIFF"), ("F", "TIFF"),
        ("PA", "TIFF"), ("CMYK", "TIFF"), ("YCbCr", "TIFF"), ("LAB", "TIFF"),
        ("CMYK", "JPEG"), ("L", "JPEG"), ("RGB", "BMP"), ("P", "GIF"), ("RGB", "WEBP"),
    ],
)  # fmt: skip
def test_modes_survive_a_file_round_trip(mode: str, fmt: str, bridge: Image.Image) -> None:
    image = _in_mode(bridge, mode)
    data = encode(image, fmt)
    assert Image.open(io.BytesIO(data)).mode == mode  # the file really holds that mode
    reference, _ = pdq_from_rgb(np.asarray(bridge))
    assert load_photo(data).shape == (bridge.height, bridge.width, 3)
    assert distance(hash_photo(data).value, reference) <= NEAR_BITS


def test_gif_hashes_its_first_frame(bridge: Image.Image) -> None:
    first = bridge.convert("P")
    second = Image.eval(bridge, lambda v: 255 - v).convert("P")
    animated = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    assert hash_photo(animated).value == hash_photo(encode(first, "GIF")).value


def test_alpha_is_dropped_not_composited(bridge: Image.Image) -> None:
    rgba = bridge.convert("RGBA")
    rng = np.random.default_rng(7)
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, bridge.size[::-1], dtype=np.uint8)))
    assert np.array_equal(load_photo(encode(rgba, "PNG")), np.asarray(bridge))


# --- bad input -----------------------------------------------------------------


def _assert_one_line(exc: pytest.ExceptionInfo[InvalidInput]) -> None:
    assert "\n" not in str(exc.value)
    assert str(exc.value) == exc.value.message


def test_zero_bytes_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as exc:
        hash_photo(b"")
    _assert_one_line(exc)


def test_truncated_jpeg_is_a_decode_error() -> None:
    data = read("bridge-mods/aaa-orig.jpg")
    with pytest.raises(DecodeError) as exc:
        hash_photo(data[: len(data) // 2])
    _assert_one_line(exc)
    assert "JPEG" in str(exc.value)


def test_jpeg_with_garbage_body_is_a_decode_error() -> None:
    data = read("bridge-mods/aaa-orig.jpg")
    garbage = random.Random(3).randbytes(len(data) - 2000)
    with pytest.raises(DecodeError) as exc:
        load_photo(data[:2000] + garbage)
    _assert_one_line(exc)


def test_random_bytes_are_unsupported_content() -> None:
    with pytest.raises(UnsupportedContent) as exc:
        hash_photo(random.Random(1).randbytes(4096))
    _assert_one_line(exc)


def test_other_image_formats_are_refused(bridge: Image.Image) -> None:
    with pytest.raises(UnsupportedContent):
        hash_photo(encode(bridge, "PPM"))


@pytest.mark.parametrize(
    "side",
    [
        100_000,  # 1e10 pixels: Pillow's DecompressionBombError
        10_000,  # 1e8 pixels: Pillow's DecompressionBombWarning
        8_000,  # 6.4e7 pixels: under Pillow's limit, over DEFAULT_MAX_PIXELS
    ],
)
def test_png_header_claiming_huge_dimensions_is_refused_before_decoding(side: int) -> None:
    assert side * side > DEFAULT_MAX_PIXELS
    # The file holds no pixel data at all: decoding would be a DecodeError.
    with pytest.raises(ContentTooLarge) as exc:
        hash_photo(png_claiming(side, side))
    _assert_one_line(exc)


def test_max_pixels_is_honoured(bridge: Image.Image) -> None:
    data = encode(bridge, "PNG")
    with pytest.raises(ContentTooLarge):
        load_photo(data, max_pixels=bridge.width * bridge.height - 1)
    assert load_photo(data, max_pixels=bridge.width * bridge.height).shape[:2] == (
        bridge.height,
        bridge.width,
    )


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((8, 8, 3), dtype=np.float32),
        np.zeros((8, 8), dtype=np.uint8),
        np.zeros((8, 8, 4), dtype=np.uint8),
        np.zeros((0, 8, 3), dtype=np.uint8),
    ],
    ids=["float", "2d", "4-channels", "empty"],
)
def test_pdq_from_rgb_rejects_anything_but_hxwx3_uint8(arr: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        pdq_from_rgb(arr)


@pytest.mark.parametrize("value", ["", "ab" * 31, "g" * 64, "0" * 65])
def test_hex_to_bits_rejects_malformed_hashes(value: str) -> None:
    with pytest.raises(InvalidInput):
        hex_to_bits(value)


_SEEDS = [read("misc-images/wee.jpg"), read("bridge-mods/square-128x128.jpg")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS + [b"GIF89a", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"BM"]),
    cut=st.integers(min_value=0, max_value=4000),
    edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
)
def test_damaged_images_raise_only_tahaluf_errors(
    seed: bytes, cut: int, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(seed[: max(cut, 1)])
    for position, value in edits:
        if position < len(data):
            data[position] = value
    try:
        signal = hash_photo(bytes(data))
    except InvalidInput as exc:
        assert "\n" not in str(exc)
    else:
        assert len(signal.value) == 64


# --- properties --------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(1, 80),
    width=st.integers(1, 80),
)
def test_hash_is_deterministic_and_equals_array_hash(seed: int, height: int, width: int) -> None:
    arr = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    data = encode(Image.fromarray(arr), "PNG")
    first, second = hash_photo(data), hash_photo(data)
    assert first == second
    assert (first.value, first.extra["quality"]) == pdq_from_rgb(arr)
    assert first.extra["dihedral"] == pdq_dihedral_from_rgb(arr)[0]
    assert 0 <= first.extra["quality"] <= 100


@given(st.binary(min_size=32, max_size=32))
def test_hex_round_trip_and_industry_bit_order(raw: bytes) -> None:
    value = raw.hex()
    bits = hex_to_bits(value)
    assert bits.shape == (256,)
    assert bits_to_hex(bits) == value
    # most significant bit first, as python-threatexchange formats the hash
    assert int("".join(str(b) for b in bits), 2) == int(value, 16)


def test_signal_json_shape() -> None:
    out = hash_photo(read("misc-images/wee.jpg")).to_json()
    assert set(out) == {"type", "value", "quality", "dihedral"}
    assert out["type"] == "pdq"
    assert all(len(h) == 64 and h == h.lower() for h in [out["value"], *out["dihedral"]])


# --- the scan path: captions over the photo, flipped low-texture photos ---


def _brick_wall(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.full((480, 640, 3), 185.0)
    bh, bw = int(rng.integers(16, 30)), int(rng.integers(40, 80))
    for row, y in enumerate(range(0, 480, bh + 3)):
        for x in range((row % 2) * bw // 2 - bw, 640, bw + 3):
            arr[y : y + bh, max(0, x) : max(0, x + bw)] = np.array([165, 88, 58]) * (0.85 + 0.3 * rng.random())
    return Image.fromarray(np.clip(arr + rng.normal(0, 3, arr.shape), 0, 255).astype(np.uint8))


def _street(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (640, 480), (120, 160, 220))
    draw = ImageDraw.Draw(image)
    for x in range(0, 640, 70):
        top = int(rng.integers(80, 300))
        draw.rectangle((x, top, x + 64, 480), fill=tuple(int(v) for v in rng.integers(30, 230, 3)))
        for wy in range(top + 10, 440, 24):
            draw.rectangle((x + 10, wy, x + 20, wy + 12), fill=(250, 230, 150))
    return image


def _caption_over(image: Image.Image, fraction: float, bottom: bool, colour, alpha: float) -> Image.Image:
    arr = np.asarray(image).astype(np.float64)
    bar = round(image.height * fraction)
    rows = slice(image.height - bar, None) if bottom else slice(0, bar)
    arr[rows] = alpha * np.array(colour) + (1 - alpha) * arr[rows]
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    ImageDraw.Draw(out).text(
        (14, (image.height - bar if bottom else 0) + bar // 4), "Market report: fresh dates today",
        fill=(255, 255, 255), font=ImageFont.load_default(size=bar // 2),
    )
    return out


def test_captioned_and_flipped_reposts_match_through_the_scan_path(store, tmp_path):
    from tahaluf import banks
    from tahaluf.services.banking import add_content
    from tahaluf.services.hashing import HashOptions, InputItem
    from tahaluf.services.matching import MatchEngine
    from tahaluf.services.scanning import scan

    bank_dir, inbox = tmp_path / "bank", tmp_path / "inbox"
    bank_dir.mkdir()
    inbox.mkdir()
    _street(1).save(bank_dir / "street.jpg", quality=95)
    _brick_wall(2).save(bank_dir / "bricks.jpg", quality=95)
    banks.create_bank(store, "known", "known", labels={"entity": "demo-entity"})
    rep = add_content(store, "known", [InputItem("file", str(p)) for p in sorted(bank_dir.iterdir())])
    assert rep.imported == 2
    street, bricks = Image.open(bank_dir / "street.jpg"), Image.open(bank_dir / "bricks.jpg")
    expected = {
        "caption-black-bottom.jpg": (_caption_over(street, 0.2, True, (0, 0, 0), 1.0), "street.jpg"),
        "caption-red-top.jpg": (_caption_over(street, 0.25, False, (200, 20, 30), 1.0), "street.jpg"),
        "caption-translucent.jpg": (_caption_over(street, 0.15, True, (20, 60, 160), 0.6), "street.jpg"),
        "bricks-mirrored.jpg": (bricks.transpose(Image.FLIP_LEFT_RIGHT), "bricks.jpg"),
        "bricks-rotated.jpg": (bricks.transpose(Image.ROTATE_90), "bricks.jpg"),
        "other-bricks-mirrored.jpg": (_brick_wall(7).transpose(Image.FLIP_LEFT_RIGHT), None),
        "other-street-captioned.jpg": (_caption_over(_street(8), 0.2, True, (0, 0, 0), 1.0), None),
    }
    for name, (image, _) in expected.items():
        image.save(inbox / name, quality=90)
    engine = MatchEngine(store).load()
    items = [InputItem("file", str(inbox / name)) for name in expected]
    got = {Path(r.input).name: r for r in scan(items, engine, hash_opts=HashOptions(trim_borders=True))}
    for name, (_, source) in expected.items():
        found = [Path(m.external_id).name for m in got[name].matches]
        assert found == ([source] if source else []), name
