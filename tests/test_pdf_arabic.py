"""Arabic PDFs made by real producers read in logical order and match their own
text (issue 11 point 11). The PDFs in tests/data/arabic_pdf were printed from
source.txt by Chromium (two fonts) and LibreOffice (scripts/make_arabic_pdfs.py)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tahaluf.signals.pdf import extract_pdf_text
from tahaluf.signals.text import containment, similarity, text_sketch

DATA = Path(__file__).parent / "data" / "arabic_pdf"
SOURCE = (DATA / "source.txt").read_text(encoding="utf-8")
PRODUCERS = ["chromium-naskh", "chromium-sans", "libreoffice"]


def words(text: str) -> list[str]:
    """The words in reading order (letter forms folded, diacritics and punctuation left out)."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKC", text) if not unicodedata.combining(ch))
    return re.findall(r"\w+", folded)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_an_arabic_pdf_reads_in_order_and_matches_its_text(producer: str) -> None:
    text = extract_pdf_text((DATA / f"{producer}.pdf").read_bytes())
    assert words(text) == words(SOURCE)
    source, extracted = text_sketch(SOURCE), text_sketch(text)
    assert similarity(source, extracted) >= 0.9
    assert containment(source, extracted) >= 0.9
    # no presentation forms left for the report to show
    assert not re.search("[\ufb50-\ufdff\ufe70-\ufefe]", text)


def test_runs_of_a_right_to_left_line_are_read_right_to_left() -> None:
    from tahaluf.signals.pdf_order import TextRun, logical_page_text

    # as Chromium draws "الحرارة إلى 24 درجة": three runs, left to right
    runs = [TextRun(" درجة", 30.0, 44.0, 16.0), TextRun("24", 76.0, 44.0, 16.0),
            TextRun("الحرارة إلى", 100.0, 44.0, 16.0), TextRun("Open ", 20.0, 70.0, 16.0),
            TextRun("Library", 60.0, 70.0, 16.0), TextRun("افتتحت مكتبة المدينة باسم", 110.0, 70.0, 16.0)]
    assert logical_page_text(runs) == "الحرارة إلى 24 درجة\nافتتحت مكتبة المدينة باسم Open Library"


def test_a_mark_drawn_on_its_own_joins_the_letter_under_it() -> None:
    from tahaluf.signals.pdf_order import TextRun, logical_page_text

    # as LibreOffice draws "يُنصح الناس": the damma is a run of its own, above the yeh
    runs = [TextRun("الناس", 10.0, 700.0, 16.0), TextRun("\u064f", 82.6, 701.3, 16.0),
            TextRun("نصح ي", 80.0, 700.0, 16.0)]
    assert logical_page_text(runs) == "نصح يُالناس"


def test_left_to_right_pages_keep_their_order() -> None:
    from tahaluf.signals.pdf_order import TextRun, logical_page_text

    runs = [TextRun("Weather", 10.0, 700.0, 12.0), TextRun(" today", 60.0, 700.0, 12.0)]
    assert logical_page_text(runs) == "Weather today"
