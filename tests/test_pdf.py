"""PDF text extraction (pypdf), on PDFs written by :func:`make_minimal_pdf`."""

from __future__ import annotations

import io
import logging

import pytest

from tahaluf.errors import DecodeError, InvalidInput, Timeout
from tahaluf.signals.pdf import extract_pdf_text
from tahaluf.signals.sniff import sniff_content_type

ENGLISH = "The weather in Cairo is sunny today."
FRENCH = "Le match de football commence à vingt heures."
# "The weather today is sunny in Cairo."
ARABIC = "الطقس اليوم مشمس في القاهرة"


def make_minimal_pdf(text_lines: list[str], *, lines_per_page: int = 40) -> bytes:
    """A small valid PDF showing ``text_lines`` (any Unicode), top to bottom.

    Every character is drawn with a Type0 font (Identity-H encoding, one
    two-byte code per distinct character) whose ToUnicode CMap maps the code
    back to the character; no glyph outlines are embedded, so viewers show
    blank or substitute glyphs but text extraction is exact. Characters are
    written in the order given: for right-to-left text pass the *visual*
    order (``line[::-1]`` for plain Arabic), as PDF producers do. Lines are
    split into pages of ``lines_per_page``; no lines give one empty page (a
    PDF without a text layer, like a scan).
    """
    chars = sorted({ch for line in text_lines for ch in line})
    code = {ch: i + 1 for i, ch in enumerate(chars)}
    pages = [text_lines[i : i + lines_per_page] for i in range(0, len(text_lines), lines_per_page)]
    pages = pages or [[]]
    font_id = 3 + 2 * len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(len(pages))), len(pages)),
    ]
    for i, lines in enumerate(pages):
        ops = [b"BT /F1 12 Tf 14 TL 72 720 Td"]
        ops += [b"<%s> Tj T*" % "".join(f"{code[ch]:04X}" for ch in line).encode() for line in lines]
        ops.append(b"ET")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font_id, 4 + 2 * i)
        )
        objects.append(_pdf_stream(b"\n".join(ops)))
    bfchar = "\n".join(f"<{code[ch]:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for ch in chars)
    to_unicode = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{len(chars)} beginbfchar\n{bfchar}\nendbfchar\n"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )
    objects += [
        b"<< /Type /Font /Subtype /Type0 /BaseFont /DemoSans /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (font_id + 1, font_id + 2),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /DemoSans "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor %d 0 R /DW 500 /CIDToGIDMap /Identity >>" % (font_id + 3),
        _pdf_stream(to_unicode.encode("ascii")),
        b"<< /Type /FontDescriptor /FontName /DemoSans /Flags 4 /FontBBox [0 -200 1000 900] "
        b"/ItalicAngle 0 /Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >>",
    ]
    return _pdf_file(objects)


def _pdf_stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def _pdf_file(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def _encrypted(data: bytes, user_password: str, algorithm: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-pw", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- extraction -----------------------------------------------------------------


def test_english_sentence_is_extracted() -> None:
    data = make_minimal_pdf([ENGLISH])
    assert sniff_content_type(data) == "pdf"
    assert extract_pdf_text(data) == ENGLISH


def test_lines_and_accents_are_extracted() -> None:
    assert extract_pdf_text(make_minimal_pdf([ENGLISH, FRENCH])) == f"{ENGLISH}\n{FRENCH}"


def test_pages_are_separated_by_a_blank_line() -> None:
    data = make_minimal_pdf(["page one", "page two", "page three"], lines_per_page=1)
    assert extract_pdf_text(data) == "page one\n\npage two\n\npage three"


def test_max_pages_and_max_chars() -> None:
    data = make_minimal_pdf(["page one", "page two", "page three"], lines_per_page=1)
    assert extract_pdf_text(data, max_pages=2) == "page one\n\npage two"
    assert extract_pdf_text(data, max_chars=12) == "page one\n\npa"
    with pytest.raises(ValueError):
        extract_pdf_text(data, max_pages=0)


def test_arabic_in_visual_order_comes_out_in_logical_order() -> None:
    # PDF producers draw Arabic glyphs left to right (visual order); pypdf
    # reverses right-to-left runs, which restores the reading order.
    assert extract_pdf_text(make_minimal_pdf([ARABIC[::-1]])) == ARABIC


def test_arabic_in_logical_order_comes_out_reversed() -> None:
    # The known limitation: a PDF that stores Arabic in logical order (rare,
    # but some generators do) is reversed by the same rule.
    assert extract_pdf_text(make_minimal_pdf([ARABIC])) == ARABIC[::-1]


def test_pdf_without_text_layer_gives_empty_string() -> None:
    assert extract_pdf_text(make_minimal_pdf([])) == ""


def test_timeout_is_checked_between_pages() -> None:
    with pytest.raises(Timeout, match="more than 0 s"):
        extract_pdf_text(make_minimal_pdf([ENGLISH]), timeout_s=0)
    assert extract_pdf_text(make_minimal_pdf([ENGLISH]), timeout_s=60) == ENGLISH


# --- encryption -----------------------------------------------------------------


def test_encrypted_with_empty_user_password_is_read() -> None:
    data = _encrypted(make_minimal_pdf([ENGLISH]), "", "RC4-128")
    assert b"/Encrypt" in data
    assert extract_pdf_text(data) == ENGLISH


def test_encrypted_with_a_password_is_refused() -> None:
    data = _encrypted(make_minimal_pdf([ENGLISH]), "secret", "RC4-128")
    with pytest.raises(InvalidInput, match="encrypted with a password") as info:
        extract_pdf_text(data)
    assert not isinstance(info.value, DecodeError)


def test_aes_encrypted_pdf_without_open_password_is_read() -> None:
    # cryptography is a dependency, so pypdf reads AES (V4/V5) PDFs.
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_minimal_pdf([ENGLISH]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    assert b"/AESV3" in buf.getvalue() or b"/V 5" in buf.getvalue()
    assert ENGLISH in extract_pdf_text(buf.getvalue())


# --- broken files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n", "corrupt or truncated PDF"),
        (make_minimal_pdf([ENGLISH])[:300], "corrupt or truncated PDF"),
        (make_minimal_pdf([ENGLISH])[:-40], "corrupt or truncated PDF"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 40, "corrupt or truncated PDF"),
        (b"this is not a PDF at all", "no '%PDF-' header"),
    ],
)
def test_corrupt_pdfs_raise_decode_error(
    data: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DecodeError) as info:
        extract_pdf_text(data)
    assert message in info.value.message
    assert "\n" not in info.value.message
    assert info.value.code == "decode_error"
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_repaired_pdf_logs_nothing_but_pypdf_logging_still_works(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # A dangling /Contents reference: pypdf repairs it and logs a warning.
    data = make_minimal_pdf([ENGLISH]).replace(b"/Contents 4 0 R", b"/Contents 99 0 R")
    with caplog.at_level(logging.WARNING):
        assert extract_pdf_text(data) == ""
    assert caplog.records == []
    assert capsys.readouterr().err == ""

    from pypdf import PdfReader

    with caplog.at_level(logging.WARNING):
        PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert any(record.name.startswith("pypdf") for record in caplog.records)
