"""Extra PDQ hashes that make photo matching survive borders, captions and crops.

PDQ summarises the whole frame, so edits that add or remove a margin move
the hash a long way: letterbox bars, a photo pasted on a plain canvas (a
screenshot), a caption bar with text, a crop of a few percent per side. This
kernel adds a few hashes on each side of the match, chosen and sized by
``bench/photo_quality.py`` (the design and the figures are in
``docs/photo-robustness.md``):

* **Query side** (:func:`query_variants`): the hash of the photo with its
  uniform borders removed (``"trimmed"``, see :func:`trim_uniform_borders`)
  and with a caption band removed (``"caption"``: a band at the top or bottom
  that starts with a uniform line and stays mostly that colour, text
  allowed). Most photos have neither, and then no extra hash is computed.
* **Bank side** (:func:`bank_crop_hashes`): the hash of the bank photo's
  content box (``"trimmed"``, only when it has uniform borders) and of three
  central crops (:data:`BANK_CROPS`), so that a query cropped by 1-10% per
  side still matches.

Border analysis runs on a copy reduced to about :data:`ANALYSIS_SIDE` pixels
(Pillow box reduction), so it costs a small fraction of one PDQ hash; the
crops are cut from the already-decoded array.

All functions take an ``(H, W, 3)`` uint8 RGB array (as returned by
:func:`tahaluf.signals.photo.load_photo`), are deterministic and never raise
for a valid array, however small or flat; anything else raises
:class:`~tahaluf.errors.InvalidInput`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from tahaluf.errors import InvalidInput
from tahaluf.signals.photo_hash import (
    DIHEDRAL_ORDER,
    pdq_dihedral_from_rgb,
    pdq_from_rgb,
)
from tahaluf.signals.photo_lines import (
    JPEG_GUARD_PIXELS,
    border_depth,
    caption_depth,
    refine_soft_edge,
)

__all__ = [
    "ANALYSIS_SIDE",
    "BANK_CROPS",
    "Box",
    "bank_crop_hashes",
    "caption_box",
    "query_variants",
    "trim_box",
    "trim_uniform_borders",
]

#: Longest side of the reduced copy on which borders are detected.
ANALYSIS_SIDE = 256

#: Central crops hashed for every bank photo: name and the fraction of the
#: width and height kept (centred). One crop catches queries cropped within
#: about 1.5% per side of it; these three cover 1-10% per side (recall
#: 0.75-1.0, docs/photo-robustness.md). ``center88`` alone covers 5-7%.
BANK_CROPS: tuple[tuple[str, float], ...] = (
    ("center94", 0.94),
    ("center88", 0.88),
    ("center82", 0.82),
)

# Defaults of trim_uniform_borders, used by the variants.
_TOLERANCE = 12
_MIN_KEEP_FRACTION = 0.2
# Full-size edge placement, see _refine.
_REFINE_FRACTION = 0.8
# Borders are removed only if one is at least this fraction of its side
# (smaller ones barely move PDQ).
_MIN_BORDER_FRACTION = 0.015
# Smallest content box kept, in pixels per side.
_MIN_KEEP_PIXELS = 16


class Box(NamedTuple):
    """Half-open pixel box ``rgb[top:bottom, left:right]``."""

    top: int
    bottom: int
    left: int
    right: int


def trim_uniform_borders(
    rgb: np.ndarray, *, tolerance: int = _TOLERANCE, min_keep_fraction: float = _MIN_KEEP_FRACTION
) -> np.ndarray | None:
    """The photo without its uniform borders, or ``None`` if it has none.

    A border is a run of near-constant lines (any colour) from an edge that
    ends at a clear edge against the content: letterbox and pillarbox bars, a
    plain canvas around a pasted photo, a solid frame. ``tolerance`` is the
    largest per-channel difference (0..255) from the border colour still
    counted as border; 95% of a line must be within it, so JPEG noise is
    tolerated. A flat region of the photo itself (a sky, a wall) is kept
    unless it is as flat as a bar *and* ends at a sharp edge (an overexposed
    white sky can, see the docs). ``None`` also when the content left would
    be under ``min_keep_fraction`` of the width or height (a flat image).
    Returns a view into ``rgb``.
    """
    box = trim_box(rgb, tolerance=tolerance, min_keep_fraction=min_keep_fraction)
    if box is None:
        return None
    return rgb[box.top : box.bottom, box.left : box.right]


def trim_box(
    rgb: np.ndarray, *, tolerance: int = _TOLERANCE, min_keep_fraction: float = _MIN_KEEP_FRACTION
) -> Box | None:
    """The content :class:`Box` that :func:`trim_uniform_borders` keeps, or ``None``."""
    return _trim_box(rgb, _analysis_copy(rgb), tolerance, min_keep_fraction)


def _trim_box(
    rgb: np.ndarray, analysis: tuple[np.ndarray, tuple[int, int]], tolerance: int, min_keep: float
) -> Box | None:
    small, scale = analysis
    found = _trim_small(small, scale, tolerance)
    if found is None:
        return None
    box = _refine(rgb, _to_full(found[0], scale, rgb.shape), found[1], scale, tolerance)
    return _accept(box, rgb.shape, min_keep)


def caption_box(rgb: np.ndarray, *, tolerance: int = _TOLERANCE) -> Box | None:
    """The photo's box without a caption band at its top or bottom, or ``None``.

    A caption band is a solid bar with text: uniform lines from the edge,
    lines of text on the bar colour, uniform lines again, then a clear edge
    against the photo; it covers 4-40% of the height. Uniform borders are
    trimmed first, so a caption inside a letterboxed frame is found too.
    """
    return _caption_box(rgb, _analysis_copy(rgb), tolerance)


def _caption_box(
    rgb: np.ndarray, analysis: tuple[np.ndarray, tuple[int, int]], tolerance: int
) -> Box | None:
    small, scale = analysis
    found = _trim_small(small, scale, tolerance)
    inner = found[0] if found else Box(0, small.shape[0], 0, small.shape[1])
    sub = small[inner.top : inner.bottom, inner.left : inner.right]
    top_cut, top_colour, top_soft = caption_depth(sub, tolerance)
    bottom_cut, bottom_colour, bottom_soft = caption_depth(sub[::-1], tolerance)
    if top_cut == 0 and bottom_cut == 0:
        return None
    full = _to_full(inner, scale, rgb.shape)
    if found:
        full = _refine(rgb, full, found[1], scale, tolerance)
    # Remove only the larger band: a caption sits on one side.
    if top_cut >= bottom_cut:
        edge = _to_full(inner._replace(top=inner.top + top_cut), scale, rgb.shape).top
        box = full._replace(top=edge)
        if top_soft:
            lines = rgb[: box.bottom, box.left : box.right]
            box = box._replace(top=refine_soft_edge(lines, edge, scale[0], top_colour))
        else:
            box = _refine(rgb, box, {"top": top_colour}, scale, tolerance)
    else:
        edge = _to_full(inner._replace(bottom=inner.bottom - bottom_cut), scale, rgb.shape).bottom
        box = full._replace(bottom=edge)
        if bottom_soft:
            height = rgb.shape[0]
            lines = rgb[box.top :, box.left : box.right][::-1]
            box = box._replace(bottom=height - refine_soft_edge(lines, height - edge, scale[0], bottom_colour))
        else:
            box = _refine(rgb, box, {"bottom": bottom_colour}, scale, tolerance)
    return _accept(box, rgb.shape, 0.5)


def query_variants(rgb: np.ndarray, *, dihedral: bool = False) -> list[tuple[str, str, int]]:
    """Extra ``(name, pdq_hex, quality)`` a query photo is also matched with.

    ``"trimmed"``: uniform borders removed; ``"caption"``: a caption band
    removed (only when it differs from ``"trimmed"``). Empty for most
    photos. With ``dihedral=True`` each variant gives eight hashes named
    ``"<variant>/<orientation>"`` (orientations as
    :data:`~tahaluf.signals.photo.DIHEDRAL_ORDER`), for rotated or flipped
    reposts that were also letterboxed or captioned; same hashing cost.
    """
    boxes: list[tuple[str, Box]] = []
    analysis = _analysis_copy(rgb)
    trimmed = _trim_box(rgb, analysis, _TOLERANCE, _MIN_KEEP_FRACTION)
    if trimmed is not None:
        boxes.append(("trimmed", trimmed))
    caption = _caption_box(rgb, analysis, _TOLERANCE)
    if caption is not None and caption != trimmed:
        boxes.append(("caption", caption))
    out: list[tuple[str, str, int]] = []
    for name, box in boxes:
        crop = _cut(rgb, box)
        if dihedral:
            hashes, quality = pdq_dihedral_from_rgb(crop)
            out.extend((f"{name}/{o}", h, quality) for o, h in zip(DIHEDRAL_ORDER, hashes, strict=True))
        else:
            out.append((name, *pdq_from_rgb(crop)))
    return out


def bank_crop_hashes(rgb: np.ndarray) -> list[tuple[str, str, int]]:
    """Extra ``(name, pdq_hex, quality)`` stored for a bank photo.

    ``"trimmed"`` (only if the bank photo has uniform borders, so that a
    query without them matches) and one hash per :data:`BANK_CROPS` entry, a
    central crop of the whole photo as stored, so that a query cropped by a
    few percent per side matches. Crops under 16 pixels a side are skipped.
    """
    out: list[tuple[str, str, int]] = []
    box = trim_box(rgb)
    if box is not None:
        out.append(("trimmed", *pdq_from_rgb(_cut(rgb, box))))
    height, width = rgb.shape[:2]
    for name, keep in BANK_CROPS:
        crop = _central(height, width, keep)
        if min(crop.bottom - crop.top, crop.right - crop.left) >= _MIN_KEEP_PIXELS:
            out.append((name, *pdq_from_rgb(_cut(rgb, crop))))
    return out


def _central(height: int, width: int, keep: float) -> Box:
    dy = int(round(height * (1 - keep) / 2))
    dx = int(round(width * (1 - keep) / 2))
    return Box(dy, height - dy, dx, width - dx)


def _cut(rgb: np.ndarray, box: Box) -> np.ndarray:
    return np.ascontiguousarray(rgb[box.top : box.bottom, box.left : box.right])


def _analysis_copy(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``(h, w, 3)`` int16 copy reduced to about ANALYSIS_SIDE, and the factors."""
    _check(rgb)
    height, width = rgb.shape[:2]
    fy = max(1, height // ANALYSIS_SIDE)
    fx = max(1, width // ANALYSIS_SIDE)
    if (fy, fx) == (1, 1):
        return rgb.astype(np.int16), (1, 1)
    small = Image.fromarray(np.ascontiguousarray(rgb)).reduce((fx, fy))
    return np.asarray(small).astype(np.int16), (fy, fx)


def _check(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise InvalidInput("expected a numpy uint8 array")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InvalidInput(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")


def _trim_small(
    small: np.ndarray, scale: tuple[int, int], tol: int
) -> tuple[Box, dict[str, np.ndarray]] | None:
    """Uniform borders on the analysis copy and each trimmed side's colour.

    Passes repeat (at most 3) for nested frames, e.g. a framed photo on a
    canvas. ``None`` if nothing is trimmed or the trim is negligible.
    """
    full = Box(0, small.shape[0], 0, small.shape[1])
    box, colours = full, dict[str, np.ndarray]()
    for _ in range(3):
        new, found = _trim_pass(small, box, scale, tol)
        if new == box:
            break
        box, colours = new, {**colours, **found}
    trimmed = (box.top, full.bottom - box.bottom, box.left, full.right - box.right)
    sides = (full.bottom, full.bottom, full.right, full.right)
    if max(t / n for t, n in zip(trimmed, sides, strict=True)) < _MIN_BORDER_FRACTION:
        return None
    return box, colours


def _trim_pass(
    small: np.ndarray, box: Box, scale: tuple[int, int], tol: int
) -> tuple[Box, dict[str, np.ndarray]]:
    """One pass: borders on opposite sides (letterbox, pillarbox, canvas) only.

    A uniform band on one side alone, or on two adjacent sides, is more often
    the photo's own floor, sky or table than an added border, so it is kept;
    a third side joins an opposite pair when it has the pair's colour (a
    photo pasted against one edge of a canvas).
    """
    top, bottom, left, right = box
    sub = small[top:bottom, left:right]
    cols = sub.transpose(1, 0, 2)
    guard_y, guard_x = (-(-JPEG_GUARD_PIXELS // f) for f in scale)
    found = {
        "top": border_depth(sub, tol, guard_y),
        "bottom": border_depth(sub[::-1], tol, guard_y),
        "left": border_depth(cols, tol, guard_x),
        "right": border_depth(cols[::-1], tol, guard_x),
    }
    keep = _paired_sides(found, tol)
    depth = {side: found[side][0] if side in keep else 0 for side in found}
    new = Box(
        top + depth["top"], bottom - depth["bottom"], left + depth["left"], right - depth["right"]
    )
    return new, {side: found[side][1] for side in keep}


def _paired_sides(found: dict[str, tuple[int, np.ndarray]], tol: int) -> set[str]:
    def same(a: str, b: str) -> bool:
        return bool(np.abs(found[a][1] - found[b][1]).max() <= 2 * tol)

    present = {side for side, (depth, _) in found.items() if depth > 0}
    keep: set[str] = set()
    for a, b in (("top", "bottom"), ("left", "right")):
        if {a, b} <= present and same(a, b):
            keep |= {a, b}
    if keep:
        anchor = next(iter(keep))
        keep |= {side for side in present if same(side, anchor)}
    return keep


def _refine(
    rgb: np.ndarray, box: Box, colours: dict[str, np.ndarray], scale: tuple[int, int], tol: int
) -> Box:
    """Move each trimmed side to the exact full-size edge.

    The analysis copy locates an edge within one reduced line, and JPEG
    ringing next to the edge fails the strict uniform test; PDQ moves by
    10+ bits when 2 pixels of a bar are left, so the edge is placed at full
    size, on the first line where fewer than 80% of the pixels are within
    3 x tolerance of the border colour.
    """
    fy, fx = scale
    height, width = rgb.shape[:2]
    top, bottom, left, right = box
    if "top" in colours:
        top = _refine_edge(rgb[:bottom, left:right], top, fy, colours["top"], tol)
    if "bottom" in colours:
        bottom = height - _refine_edge(
            rgb[top:, left:right][::-1], height - bottom, fy, colours["bottom"], tol
        )
    cols = rgb[top:bottom].transpose(1, 0, 2)
    if "left" in colours:
        left = _refine_edge(cols[:right], left, fx, colours["left"], tol)
    if "right" in colours:
        right = width - _refine_edge(cols[left:][::-1], width - right, fx, colours["right"], tol)
    return Box(top, bottom, left, right)


def _refine_edge(lines: np.ndarray, edge: int, factor: int, colour: np.ndarray, tol: int) -> int:
    """Border line count near ``edge`` (lines ordered from the outside in)."""
    start = max(0, edge - factor)
    end = min(len(lines), edge + factor + 3)
    if end <= start:
        return edge
    window = lines[start:end].astype(np.int16)
    within = (np.abs(window - colour).max(axis=2) <= 3 * tol).mean(axis=1)
    inside = np.flatnonzero(within < _REFINE_FRACTION)
    return start + int(inside[0]) if len(inside) else end


def _to_full(box: Box, scale: tuple[int, int], shape: tuple[int, ...]) -> Box:
    """Map an analysis-copy box to full-size pixels (the last line may be partial)."""
    fy, fx = scale
    height, width = shape[:2]
    small_h = -(-height // fy) if fy > 1 else height
    small_w = -(-width // fx) if fx > 1 else width
    bottom = height if box.bottom >= small_h else box.bottom * fy
    right = width if box.right >= small_w else box.right * fx
    return Box(box.top * fy, bottom, box.left * fx, right)


def _accept(box: Box, shape: tuple[int, ...], min_keep_fraction: float) -> Box | None:
    height, width = shape[:2]
    keep_h, keep_w = box.bottom - box.top, box.right - box.left
    if min(keep_h, keep_w) < _MIN_KEEP_PIXELS:
        return None
    if keep_h < min_keep_fraction * height or keep_w < min_keep_fraction * width:
        return None
    if box == Box(0, height, 0, width):
        return None
    return box
