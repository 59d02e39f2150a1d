"""Reading order of right-to-left text drawn in a PDF.

PDF producers draw a right-to-left line as separate runs: Chromium (Skia)
draws each bidi run (Arabic words, a number, a Latin word) as its own text
object from left to right, LibreOffice splits a line where a combining mark
(a damma, a shadda) is drawn on its own. pypdf turns each run into logical
order (it reverses right-to-left characters inside a run) but joins the runs
in the order they are drawn, which for a right-to-left line is visual order:
"... إلى" + "24" + " درجة" comes out as " درجة24 ... إلى". The Unicode bidi
algorithm cannot repair that afterwards (it maps logical to visual order and
knows nothing of positions), so :func:`logical_page_text` puts the runs of
each line back in reading order by where they are drawn:

* runs are grouped into lines by their baseline (consecutive runs within
  half the font size of it); lines keep the order they are drawn in;
* a line with more right-to-left letters than left-to-right ones is read
  right to left: its runs are sorted by their starting x, largest first;
  other lines left to right;
* a run of combining marks only is joined to the run under it (the one
  starting last at or before the mark's x): in a right-to-left line, after
  that run's last character (its leftmost glyph).

Arabic presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF), which some
producers map their glyphs to, are folded to the letters (NFKC), so the text
reads and searches as typed.

Pure functions of the runs; no pypdf import.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TextRun", "fold_presentation_forms", "has_rtl", "logical_page_text", "run_from_visitor"]

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_LTR = re.compile(r"[A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]")
_LTR_OR_DIGIT = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]")
_PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]")


@dataclass(frozen=True, slots=True)
class TextRun:
    """One piece of text as drawn: logical order inside, where it starts, its size."""

    text: str
    x: float
    y: float
    size: float


def run_from_visitor(text: str, cm: Sequence[float], tm: Sequence[float], font_size: float) -> TextRun:
    """A :class:`TextRun` from pypdf's ``visitor_text`` arguments (text and CTM matrices)."""
    tx, ty = float(tm[4]), float(tm[5])
    x = tx * cm[0] + ty * cm[2] + cm[4]
    y = tx * cm[1] + ty * cm[3] + cm[5]
    scale = math.sqrt(abs((tm[0] * tm[3] - tm[1] * tm[2]) * (cm[0] * cm[3] - cm[1] * cm[2])))
    return TextRun(text, float(x), float(y), abs(float(font_size or 0.0)) * scale or 1.0)


def has_rtl(text: str) -> bool:
    return _RTL.search(text) is not None


def fold_presentation_forms(text: str) -> str:
    """Arabic presentation forms folded to the letters they show (NFKC of those only)."""
    return _PRESENTATION_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def logical_page_text(runs: Sequence[TextRun]) -> str:
    """The page's text, each line's runs in reading order, lines joined by newlines."""
    lines: list[list[tuple[TextRun, bool]]] = []
    gap = False  # pypdf drew a space just before the next run (a gap on its left)
    for run in runs:
        text = run.text.replace("\r", "").replace("\n", "")
        if not text.strip():
            gap = gap or bool(text)
            continue
        run = TextRun(text, run.x, run.y, run.size)
        current = lines[-1] if lines else None
        if current and abs(run.y - current[0][0].y) <= 0.5 * max(run.size, current[0][0].size):
            current.append((run, gap))
        else:
            lines.append([(run, gap)])
        gap = False
    return "\n".join(_line_text(line) for line in lines)


def _line_text(line: list[tuple[TextRun, bool]]) -> str:
    text = "".join(r.text for r, _gap in line)
    if len(_RTL.findall(text)) <= len(_LTR.findall(text)):
        ordered = sorted(line, key=lambda pair: pair[0].x)
        return "".join((" " if gap else "") + r.text for r, gap in ordered).strip()
    bases = [(r, gap) for r, gap in line if not _marks_only(r.text)]
    joined = {id(r): r.text for r, _gap in bases}
    loose: list[tuple[TextRun, bool]] = []
    for mark, gap in line:
        if not _marks_only(mark.text):
            continue
        under = [r for r, _gap in bases if r.x <= mark.x + 0.1 * mark.size]
        if under:
            joined[id(max(under, key=lambda r: r.x))] += mark.text
        else:
            loose.append((mark, gap))
    # a gap on a run's left is, right to left, a space after it
    pieces = _ltr_groups_in_order([joined.get(id(r), r.text) + (" " if gap else "")
                                   for r, gap in sorted([*bases, *loose], key=lambda pair: -pair[0].x)])
    out = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        if _needs_space(out[-1:], piece[:1]):
            out += " "
        out += piece
    return out.strip()


def _ltr_groups_in_order(pieces: list[str]) -> list[str]:
    """Consecutive left-to-right runs (Latin words, numbers) inside a right-to-left
    line read left to right: reverse each such group of the right-to-left order."""
    out: list[str] = []
    group: list[str] = []
    for piece in pieces:
        if not _RTL.search(piece) and _LTR_OR_DIGIT.search(piece):
            group.append(piece)
            continue
        out.extend(_spaced(group[::-1]))
        group = []
        out.append(piece)
    out.extend(_spaced(group[::-1]))
    return out


def _spaced(group: list[str]) -> list[str]:
    """Words of a reversed left-to-right group keep a space between them."""
    return [piece if n == len(group) - 1 or piece[-1:].isspace() or group[n + 1][:1].isspace()
            else piece + " " for n, piece in enumerate(group)]


def _needs_space(left: str, right: str) -> bool:
    """Runs split where the script changes (Arabic next to digits or Latin): producers
    leave the space between them out of both runs."""
    if not left or not right or left.isspace() or right.isspace():
        return False
    return bool(_RTL.match(left)) != bool(_RTL.match(right)) and not unicodedata.combining(right)


def _marks_only(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and all(unicodedata.combining(ch) for ch in stripped)
