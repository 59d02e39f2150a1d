"""Photo signals: decode an image safely and compute its PDQ hash.

PDQ is Meta's perceptual photo hash (256 bits + a quality score 0..100), the
format used by ThreatExchange, HMA and the GIFCT hash-sharing database. The
hash itself is computed by the ``pdqhash`` package (the reference C++ code);
this module decodes the bytes, turns any Pillow mode into RGB the same way
the reference Python library (python-threatexchange) does, and formats the
result the industry way: the 256 bits as 64 lowercase hex characters, most
significant bit first, identical to ``PdqSignal`` and upstream test data.

Decisions, each checked against ``shared/reference/pdq/expected.csv``:

* **Alpha is dropped, not composited.** The colour channels are hashed as
  stored; upstream asserts the hash of ``pytx/LA.png`` (real transparency)
  exactly, and compositing over white or black moves it by 60+ bits.
* **EXIF orientation is ignored**: pixels are hashed in stored order, as the
  C++ ``pdq-photo-hasher`` (its published output for
  ``reg-test-input/exif-rotn``) and python-threatexchange do. A photo and its
  rotated twin still match through the dihedral hashes.
* **16-bit and float modes** (``I;16``, ``I``, ``F``) go through Pillow's own
  conversion, which clips values to 0..255; upstream asserts the resulting
  hash and quality (36) for ``pytx/I16.png``.
* **GIF, APNG, animated WebP, multi-page TIFF**: the first frame only.
* **Speed**: PDQ box-filters the whole image down to 64x64 anyway, so
  :func:`hash_photo` decodes large images at reduced size (JPEG DCT scaling,
  then an integer box reduction per axis) keeping at least
  :data:`PDQ_MIN_SIDE` = 512 pixels on each axis. Measured on the 54
  reference images against their full-size hash: 512 moves a hash by at most
  8 bits (mean 1.85; quality unchanged; every expected.csv row still within
  its tolerance) and halves the time of a typical 1-2 MP photo; 1024 moves at
  most 2 bits and only speeds up photos of 2048+ pixels (about 5x at 12 MP);
  256 is too far (c.png leaves its 10-bit tolerance). ``min_side=None``
  (``tahaluf hash --exact-pdq``) hashes at full size, bit-identical to
  python-threatexchange.

Decompression bombs are refused from the header, before pixels are decoded.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from tahaluf.errors import (
    ContentTooLarge,
    DecodeError,
    InvalidInput,
    UnsupportedContent,
)
from tahaluf.signals import photo_canonical, photo_variants
from tahaluf.signals.base import Signal
from tahaluf.signals.photo_hash import (
    DIHEDRAL_ORDER,
    bits_to_hex,
    hex_to_bits,
    pdq_dihedral_from_rgb,
    pdq_from_rgb,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DIHEDRAL_ORDER",
    "PDQ_MIN_SIDE",
    "SUPPORTED_FORMATS",
    "bits_to_hex",
    "hash_photo",
    "hex_to_bits",
    "image_to_rgb",
    "load_photo",
    "pdq_dihedral_from_rgb",
    "pdq_from_rgb",
]

#: Largest image (width x height) decoded by default: 50 megapixels covers a
#: 48 MP phone photo (8000x6000) and refuses decompression bombs. The check
#: reads only the header. Pillow's own bomb guard (``Image.MAX_IMAGE_PIXELS``,
#: about 89 MP) also applies and is reported as :class:`ContentTooLarge`.
DEFAULT_MAX_PIXELS = 50_000_000

#: Smallest side kept when :func:`hash_photo` pre-shrinks before hashing.
PDQ_MIN_SIDE = 512

#: Container formats Pillow may open (JPEG includes multi-picture MPO).
#: Anything else (EPS, PSD, ICO, ...) is refused as unsupported, which also
#: keeps rarely used decoders out of reach of untrusted bytes.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")

# Exception types Pillow's decoders raise on corrupt or truncated data; they
# become DecodeError at this boundary (a Hypothesis fuzz test checks it).
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)
# Modes Pillow cannot convert to RGB directly, and the mode to go through.
_CONVERT_VIA = {"La": "LA"}


def load_photo(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> np.ndarray:
    """Decode image bytes to an ``(H, W, 3)`` uint8 RGB array.

    Handles JPEG, PNG, WebP, GIF, TIFF and BMP in any Pillow mode (see
    :func:`image_to_rgb`); first frame only; EXIF orientation not applied.
    With ``min_side``, the image may be decoded smaller (never below
    ``min_side`` on an axis that was larger; the aspect ratio may change).

    Raises :class:`ContentTooLarge` if width x height exceeds ``max_pixels``
    (checked from the header, before decoding), :class:`UnsupportedContent`
    if the bytes are not a supported image, :class:`DecodeError` if they are
    empty, truncated or corrupt.
    """
    if min_side is not None and min_side < 1:
        raise InvalidInput("min_side must be at least 1")
    image = _open_image(data, max_pixels)
    _decode_pixels(image, min_side)
    if min_side is not None:
        image = _reduce(image, min_side)
    return image_to_rgb(image)


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """Convert a decoded Pillow image of any mode to ``(H, W, 3)`` uint8 RGB.

    RGB is used as stored and L is replicated to three channels; every other
    mode (1, LA, La, P, PA, RGBA, RGBa, RGBX, CMYK, YCbCr, LAB, HSV, I,
    I;16*, F) goes through Pillow's ``convert("RGB")``, which drops alpha and
    clips 16-bit and float values to 0..255, as python-threatexchange does.
    """
    image = _rgb_or_l(image)
    arr = np.asarray(image)
    if image.mode == "L":
        arr = np.repeat(arr[:, :, np.newaxis], 3, axis=2)
    return arr


def hash_photo(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = PDQ_MIN_SIDE,
    query_variants: bool = False,
    bank_crops: bool = False,
) -> Signal:
    """PDQ signal of an image file's bytes.

    Returns ``Signal("pdq", <64 hex>, {"quality": int, "dihedral": [8 hex]})``
    with the dihedral hashes in :data:`DIHEDRAL_ORDER`. Raises like
    :func:`load_photo`. The image is pre-shrunk to at least
    ``min_side`` pixels per axis before hashing (default :data:`PDQ_MIN_SIDE`;
    ``None`` hashes at full size, bit-identical to python-threatexchange).

    ``query_variants`` adds ``"variants"``: the hashes of the photo with
    uniform borders or a caption band removed (and their dihedral
    versions), then the ten hashes of its 64x64 canonical copy, for
    matching a query; ``bank_crops`` adds ``"crops"``:
    ``[{"crop", "value", "quality"}]`` of a few standard crops and of the
    canonical copy, stored with a bank photo so cropped, captioned, flipped
    or downscaled reposts match (see :mod:`tahaluf.signals.photo_variants`,
    :mod:`tahaluf.signals.photo_canonical` and docs/photo-robustness.md).
    """
    rgb = load_photo(data, max_pixels=max_pixels, min_side=min_side)
    hashes, quality = pdq_dihedral_from_rgb(rgb)
    extra: dict[str, object] = {"quality": quality, "dihedral": hashes}
    if query_variants:
        found = photo_variants.query_variants(rgb, dihedral=True) + photo_canonical.query_canonical_hashes(rgb)
        extra["variants"] = [h for _, h, _ in found]
    if bank_crops:
        stored = photo_variants.bank_crop_hashes(rgb) + photo_canonical.bank_canonical_hashes(rgb)
        extra["crops"] = [{"crop": name, "value": h, "quality": q} for name, h, q in stored]
    return Signal("pdq", hashes[0], extra)


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Parse the header only; refuse bombs and unsupported formats."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInput("image data must be bytes")
    if len(data) == 0:
        raise DecodeError("image data is empty (0 bytes)")
    try:
        with _pillow_warnings():
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ContentTooLarge(
            f"image dimensions exceed the decoder's safety limit of "
            f"{Image.MAX_IMAGE_PIXELS} pixels"
        ) from exc
    except UnidentifiedImageError as exc:
        names = ", ".join(SUPPORTED_FORMATS)
        raise UnsupportedContent(f"not a supported image (supported: {names})") from exc
    except _DECODER_ERRORS as exc:
        raise DecodeError("corrupt image header") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise DecodeError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ContentTooLarge(
            f"image is {width}x{height} = {width * height} pixels, "
            f"over the limit of {max_pixels}"
        )
    return image


def _decode_pixels(image: Image.Image, min_side: int | None) -> None:
    """Decode the first frame; JPEG at a reduced DCT scale if min_side allows."""
    try:
        with _pillow_warnings():
            if min_side is not None:
                image.draft(image.mode, (min_side, min_side))
            image.load()
    except _DECODER_ERRORS as exc:
        raise DecodeError(f"corrupt or truncated {image.format} image") from exc


def _rgb_or_l(image: Image.Image) -> Image.Image:
    """The image in mode RGB or L (alpha dropped, see :func:`image_to_rgb`)."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    try:
        if mode in _CONVERT_VIA:
            image = image.convert(_CONVERT_VIA[mode])
        return image.convert("RGB")
    except ValueError as exc:
        raise UnsupportedContent(f"image mode {mode!r} cannot be converted to RGB") from exc


def _reduce(image: Image.Image, min_side: int) -> Image.Image:
    """Box-average by an integer factor per axis, keeping each axis >= min_side.

    Converts to RGB/L first, so alpha is dropped rather than weighted and
    palette indices are never averaged.
    """
    width, height = image.size
    factors = (max(1, width // min_side), max(1, height // min_side))
    if factors == (1, 1):
        return image
    return _rgb_or_l(image).reduce(factors)


class _pillow_warnings(warnings.catch_warnings):
    """Bomb warnings become errors; Pillow's metadata complaints are silenced.

    (Kernels log nothing; a corrupt EXIF block does not stop hashing.) Like
    every ``warnings.catch_warnings`` before Python 3.14 this swaps the
    process-wide filter list, so threads hashing at the same moment may see
    each other's filters; the worst case is a stray or missed Pillow warning.
    """

    def __enter__(self) -> None:
        super().__enter__()
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)

