"""PDQ hashes of a small canonical copy of a photo: flips, rotations, downscales, caption bands.

Two weaknesses of plain PDQ that the border and crop variants of
:mod:`tahaluf.signals.photo_variants` do not cover (measured with
``bench/photo_quality.py``, docs/photo-robustness.md):

* **Flips, rotations and downscales of low-texture photos.** pdqhash shrinks
  the photo to 64x64 itself, with a box filter whose window is not centred
  and a decimation grid that is not symmetric, so hashing a mirrored photo
  does not give the mirrored hash: the 64x64 samples fall on other pixels.
  A busy photo does not care; a brick wall, gravel, sand or a sky (PDQ
  quality 0-50, most DCT coefficients near the median) moves by 32-114
  bits. The same holds for a photo halved with another filter. The fix is
  to give pdqhash a copy already shrunk to :data:`CANONICAL_SIDE` square
  with Pillow's area average (``BOX``), which is centred: flipping or
  rotating the photo then flips or rotates the copy exactly, and a halved
  photo gives nearly the same copy.
* **Caption bands over the photo.** A strip of colour with text over the
  bottom or top 10-25% of the photo hides part of it, so cutting the strip
  leaves a crop that matches nothing. Instead both sides blank a fixed
  band of :data:`BAND_FRACTION` (more than any such caption) at the top
  and at the bottom of the canonical copy with mid grey: the query's
  blanked copy then hides the caption and the bank's hides the same rows,
  whatever the caption's colour, opacity or text. No detection is needed,
  so translucent bands and bands of the photo's own colour are covered.

Pure kernel: numpy, Pillow, pdqhash. Every function takes the ``(H, W, 3)``
uint8 array of :func:`tahaluf.signals.photo.load_photo` and never fails for
a valid array of any size; anything else raises
:class:`~tahaluf.errors.InvalidInput`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from tahaluf.errors import InvalidInput
from tahaluf.signals.photo_hash import (
    DIHEDRAL_ORDER,
    pdq_dihedral_from_rgb,
    pdq_from_rgb,
)

__all__ = [
    "BAND_FRACTION",
    "CANONICAL_SIDE",
    "bank_canonical_hashes",
    "canonical_copy",
    "query_canonical_hashes",
]

#: Side of the square canonical copy; pdqhash works on 64x64 internally, so
#: this keeps all the information its hash uses (128 does not help: pdqhash
#: then filters and decimates again, asymmetrically).
CANONICAL_SIDE = 64

#: Fraction of the height blanked at the top (``"band_top"``) or bottom
#: (``"band_bottom"``): more than the 25% a caption band covers, with 3% for
#: rounding and JPEG ringing at the band's edge.
BAND_FRACTION = 0.28

# The blank: mid grey, whatever the band's colour was.
_BAND_GREY = 128


def canonical_copy(rgb: np.ndarray) -> np.ndarray:
    """The photo as a :data:`CANONICAL_SIDE` square ``(S, S, 3)`` uint8 copy (area average)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise InvalidInput("expected a numpy uint8 array")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InvalidInput(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    image = Image.fromarray(np.ascontiguousarray(rgb))
    return np.asarray(image.resize((CANONICAL_SIDE, CANONICAL_SIDE), Image.Resampling.BOX))


def _band_hashes(small: np.ndarray) -> list[tuple[str, str, int]]:
    rows = int(round(CANONICAL_SIDE * BAND_FRACTION))
    out = []
    for name, band in (("band_top", slice(0, rows)), ("band_bottom", slice(CANONICAL_SIDE - rows, None))):
        blanked = small.copy()
        blanked[band] = _BAND_GREY
        out.append((name, *pdq_from_rgb(blanked)))
    return out


def query_canonical_hashes(rgb: np.ndarray) -> list[tuple[str, str, int]]:
    """``(name, pdq_hex, quality)`` a query photo is also matched with.

    The eight dihedral hashes of the canonical copy (``"canonical/<o>"``,
    orientations as :data:`~tahaluf.signals.photo.DIHEDRAL_ORDER`) and the
    copy with its top or bottom band blanked (``"band_top"``,
    ``"band_bottom"``). Ten hashes of a 64x64 copy: about a tenth of the cost
    of the photo's own hash.
    """
    small = canonical_copy(rgb)
    hashes, quality = pdq_dihedral_from_rgb(small)
    out = [(f"canonical/{o}", h, quality) for o, h in zip(DIHEDRAL_ORDER, hashes, strict=True)]
    return out + _band_hashes(small)


def bank_canonical_hashes(rgb: np.ndarray) -> list[tuple[str, str, int]]:
    """``(name, pdq_hex, quality)`` stored with a bank photo: ``"canonical"``,
    ``"band_top"`` and ``"band_bottom"`` (see :func:`query_canonical_hashes`)."""
    small = canonical_copy(rgb)
    return [("canonical", *pdq_from_rgb(small)), *_band_hashes(small)]
