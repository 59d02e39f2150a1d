"""Line statistics for border and caption detection (kernels of :mod:`tahaluf.signals.photo_variants`).

Each function takes the lines of an analysis copy ordered from an edge inwards
(``(n, w, 3)`` arrays) and measures how far they stay from the edge colour.
The thresholds and their figures are in ``docs/photo-robustness.md``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JPEG_GUARD_PIXELS", "border_depth", "caption_depth", "refine_soft_edge"]

# A line is uniform when this fraction of its pixels is within the tolerance
# of the border colour (the rest is JPEG ringing, dust, a logo pixel...).
_UNIFORM_FRACTION = 0.95
# Every line of a caption band shows at least this fraction of the band
# colour (between and around glyphs)...
_CAPTION_PRESENT = 0.05
# ... and at least one line changes colour this many times (glyph strokes),
# which a flat table, floor or sky does not.
_TEXT_CHANGES = 12
# ... and its lines deviate from its colour by at most this on average
# (median over the lines beyond JPEG_GUARD_PIXELS of the edge): added bars
# and canvases measure 0-1 even after JPEG q30; real skies, walls and
# stripes 2.9-6 (docs/photo-robustness.md).
_FLAT_MEAN_DEVIATION = 2.0
JPEG_GUARD_PIXELS = 16
# A caption band in the photo's own colour has no colour edge against the
# photo; its end is where flat lines (mean deviation <= _FLAT_MEAN_DEVIATION)
# meet textured ones (mean deviation from the band colour at least this;
# the photo next to such bands measured 5-14 on the suite, bands 0-1.5).
_TEXTURED_MEAN_DEVIATION = 4.0
# The content next to a border must differ from the border colour by more
# than _EDGE_FACTOR x tolerance on at least _EDGE_FRACTION of a line: a bar
# ends at an edge, a flat sky fades out.
# Three lines are looked at: JPEG ringing blurs the first two.
_EDGE_FACTOR = 2
_EDGE_FRACTION = 0.25
_EDGE_LINES = 3
# A caption band is between these fractions of the height.
_CAPTION_MIN, _CAPTION_MAX = 0.04, 0.40


def _line_deviation(
    lines: np.ndarray, tol: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel deviation ``(n, w)`` from the first line's colour, and the colour.

    With ``tol``, lines are computed in growing chunks only up to the first
    that is not uniform, plus :data:`_EDGE_LINES` (most photos stop at line
    0, so this costs almost nothing). ``None`` for fewer than 3 lines.
    """
    if lines.shape[0] < 3 or lines.shape[1] < 1:
        return None
    colour = np.rint(np.median(lines[0], axis=0)).astype(np.int16)
    if tol is None:
        return _deviation(lines, colour), colour
    parts: list[np.ndarray] = []
    start, chunk = 0, 8
    while start < len(lines):
        dev = _deviation(lines[start : start + chunk], colour)
        parts.append(dev)
        bad = np.flatnonzero((dev <= tol).mean(axis=1) < _UNIFORM_FRACTION)
        start += len(dev)
        if len(bad):
            stop = start - len(dev) + int(bad[0]) + _EDGE_LINES
            if stop > start:
                parts.append(_deviation(lines[start:stop], colour))
            break
        chunk *= 2
    return np.concatenate(parts), colour


def _deviation(lines: np.ndarray, colour: np.ndarray) -> np.ndarray:
    diff = np.abs(lines - colour)
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


def border_depth(lines: np.ndarray, tol: int, guard: int) -> tuple[int, np.ndarray]:
    """Leading uniform lines that end at an edge: (depth or 0, border colour).

    Flatness is judged on the lines more than ``guard`` lines from the edge,
    out of reach of the JPEG blocks (16 pixels with chroma subsampling) that
    also hold content.
    """
    found = _line_deviation(lines, tol)
    if found is None:
        return 0, np.zeros(3)
    dev, colour = found
    uniform = (dev <= tol).mean(axis=1) >= _UNIFORM_FRACTION
    depth = int(np.argmin(uniform)) if not uniform.all() else len(uniform)
    interior = dev[: max(0, depth - guard)].mean(axis=1)
    if len(interior) and float(np.median(interior)) > _FLAT_MEAN_DEVIATION:
        return 0, colour  # within tolerance but textured: the photo's own
    return _checked_depth(dev, depth, tol), colour


def caption_depth(lines: np.ndarray, tol: int) -> tuple[int, np.ndarray, bool]:
    """Depth of a caption band (or 0), its colour, and whether its edge is soft.

    A band is: uniform lines of one colour from the edge, text lines (every
    line still shows some of that colour, and one changes colour at least
    :data:`_TEXT_CHANGES` times, as glyph strokes do), uniform lines again,
    then an edge against the photo: a colour edge, or (``soft``) for a band
    of the photo's own colour, flat lines followed by textured ones. A
    uniform line is also flat (mean deviation at most
    :data:`_TEXTURED_MEAN_DEVIATION`), so the photo next to a band of its
    own colour does not extend the band. The deepest such band within 40%
    of the height is taken.
    """
    first = _line_deviation(lines[:3], tol)
    if first is None:
        return 0, np.zeros(3), False
    limit = min(len(lines) - 1, int(_CAPTION_MAX * len(lines)) + 1)
    if limit < 2 or (first[0][0] <= tol).mean() < _UNIFORM_FRACTION:
        return 0, first[1], False
    dev, colour = _deviation(lines[: limit + _EDGE_LINES], first[1]), first[1]
    near = dev <= tol
    within = near.mean(axis=1)
    mean_dev = dev.mean(axis=1)
    present = np.cumprod(within[:limit] >= _CAPTION_PRESENT).astype(bool)
    uniform = (within >= _UNIFORM_FRACTION) & (mean_dev <= _TEXTURED_MEAN_DEVIATION)
    ends = np.flatnonzero(present & uniform[:limit] & ~uniform[1 : limit + 1])
    changes = np.count_nonzero(near[:limit, 1:] != near[:limit, :-1], axis=1)
    for end in ends[::-1]:
        depth = int(end) + 1
        if depth < _CAPTION_MIN * len(lines) or changes[:depth].max() < _TEXT_CHANGES:
            continue
        if uniform[:depth].all():
            return 0, colour, False  # a plain bar: trimming handles it
        if _checked_depth(dev, depth, tol):
            return depth, colour, False
        after = mean_dev[depth : depth + _EDGE_LINES]
        before = mean_dev[max(0, depth - _EDGE_LINES) : depth]
        if before.min() <= _FLAT_MEAN_DEVIATION and len(after) and after.max() >= _TEXTURED_MEAN_DEVIATION:
            return depth, colour, True
    return 0, colour, False


def refine_soft_edge(lines: np.ndarray, edge: int, factor: int, colour: np.ndarray) -> int:
    """Full-size position of a soft band edge near ``edge`` (lines from the outside in):
    the first line whose mean deviation from the band colour shows texture."""
    start = max(0, edge - factor)
    end = min(len(lines), edge + factor + _EDGE_LINES)
    if end <= start:
        return edge
    mean = _deviation(lines[start:end].astype(np.int16), colour).mean(axis=1)
    inside = np.flatnonzero(mean >= _TEXTURED_MEAN_DEVIATION)
    return start + int(inside[0]) if len(inside) else edge


def _checked_depth(dev: np.ndarray, depth: int, tol: int) -> int:
    """``depth`` if the lines after it form an edge (and content remains), else 0."""
    if depth < 1 or depth >= dev.shape[0] - 1:
        return 0
    after = dev[depth : depth + _EDGE_LINES]
    edge = (after > _EDGE_FACTOR * tol).mean(axis=1).max()
    return depth if edge >= _EDGE_FRACTION else 0
