"""Content-type sniffing from magic bytes, and strict text decoding.

:func:`sniff_content_type` looks at the first :data:`HEAD_BYTES` of a file and
answers ``"photo"``, ``"video"``, ``"pdf"``, ``"text"`` or ``"file"``. It
trusts the bytes, never the file name: a JPEG called ``notes.txt`` is a photo,
a text file called ``photo.jpg`` is text.

:func:`decode_text` turns bytes into ``str``: UTF-8 (with or without a byte
order mark) and UTF-16/UTF-32 with a byte order mark. Legacy code pages
(Windows-1256 for Arabic, Latin-1, ...) are refused with a message saying so,
never guessed: a wrong guess gives mojibake whose fingerprint matches nothing.
"""

from __future__ import annotations

import codecs
import re

from PIL import Image, features

from tahaluf.errors import DecodeError

__all__ = ["CONTENT_KINDS", "HEAD_BYTES", "decode_text", "sniff_content_type"]

#: How many leading bytes :func:`sniff_content_type` needs (read this much).
HEAD_BYTES = 65536

#: Every answer :func:`sniff_content_type` can give.
CONTENT_KINDS = ("photo", "video", "pdf", "text", "file")

#: Share of control characters (other than tab, line breaks, form feed) above
#: which valid UTF-8 is still not treated as text.
MAX_CONTROL_FRACTION = 0.01

_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Unicode category Cc (C0, DEL, C1) except tab, line feed, vertical tab, form
# feed and carriage return.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")

# ISO base media file format ("ftyp" box) brands.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
# Old QuickTime files may start with one of these atoms instead of "ftyp".
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"pnot"})
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_TS_PACKET = 188


def sniff_content_type(head: bytes, *, name: str = "") -> str:
    """Classify content from its first bytes (``HEAD_BYTES`` is enough).

    ``name`` is accepted for the caller's convenience and deliberately not
    used: the answer depends on the bytes only. Empty input is ``"file"``
    (there is nothing to fingerprint beyond the digests).
    """
    del name  # the bytes decide, never the extension
    head = bytes(head[:HEAD_BYTES])
    kind = _sniff_image(head) or _sniff_video(head)
    if kind is not None:
        return kind
    if _is_pdf(head):
        return "pdf"
    if head and _is_text(head):
        return "text"
    return "file"


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (BOM optional) or UTF-16/UTF-32 (BOM required) to ``str``.

    The byte order mark is removed. Raises :class:`~tahaluf.errors.DecodeError`
    (an ``InvalidInput``) for anything else, naming the first bad byte, and
    for text containing NUL characters (binary data).
    """
    data = bytes(data)
    encoding, bom_len = _bom_encoding(data)
    try:
        text = data[bom_len:].decode(encoding)
    except UnicodeDecodeError as exc:
        bad = data[bom_len + exc.start : bom_len + exc.start + 1]
        hint = (
            "; convert it to UTF-8 first (for Arabic Windows files: "
            "iconv -f WINDOWS-1256 -t UTF-8)"
            if encoding == "utf-8"
            else ""
        )
        raise DecodeError(
            f"not {encoding.upper()} text: invalid byte 0x{bad.hex().upper() or '??'} "
            f"at offset {bom_len + exc.start}{hint}"
        ) from exc
    if "\x00" in text:
        raise DecodeError(f"not text: contains NUL characters (offset {text.index(chr(0))})")
    return text


def _bom_encoding(data: bytes) -> tuple[str, int]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def _sniff_image(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "photo"  # JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "photo"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "photo"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "photo"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "photo"  # TIFF and BigTIFF
    if _is_bmp(head):
        return "photo"
    brands = _ftyp_brands(head)
    if brands & _AVIF_BRANDS:
        return "photo" if _pillow_reads("AVIF") else "file"
    if brands & _HEIF_BRANDS:
        return "photo" if _pillow_reads("HEIF") else "file"
    return None


def _sniff_video(head: bytes) -> str | None:
    brands = _ftyp_brands(head)
    if brands:  # MP4, MOV, M4V, 3GP, ...; image brands were handled before
        return "file" if head[8:12] in _AUDIO_BRANDS else "video"
    if len(head) >= 16 and head[4:8] in _QUICKTIME_ATOMS and _be32(head, 0) >= 8:
        return "video"  # QuickTime without "ftyp"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # EBML: Matroska, WebM
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video"
    if head.startswith(b"FLV\x01"):
        return "video"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video"  # ASF / WMV
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video"  # MPEG program stream, MPEG-1/2 video
    if _is_mpeg_ts(head):
        return "video"
    return None


def _ftyp_brands(head: bytes) -> frozenset[bytes]:
    """Major and compatible brands of a leading ISO-BMFF ``ftyp`` box."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return frozenset()
    size = min(_be32(head, 0), len(head), 4096)
    if size < 16:
        return frozenset()
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, size - 3, 4))
    return frozenset(brands)


def _pillow_reads(plugin: str) -> bool:
    """Can this Pillow build decode AVIF / HEIF (pillow-heif registers HEIF)?"""
    if plugin == "AVIF":
        return bool(features.check("avif"))
    Image.init()
    return plugin in Image.OPEN


def _be32(head: bytes, offset: int) -> int:
    return int.from_bytes(head[offset : offset + 4], "big")


def _is_bmp(head: bytes) -> bool:
    # "BM" alone would also match text starting with "BM"; check the DIB header size.
    return (
        len(head) >= 26
        and head.startswith(b"BM")
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    )


def _is_mpeg_ts(head: bytes) -> bool:
    packets = min(len(head) // _TS_PACKET, 8)
    return packets >= 3 and all(head[i * _TS_PACKET] == 0x47 for i in range(packets))


def _is_pdf(head: bytes) -> bool:
    """``%PDF-`` at the start, or within the first KiB after binary junk or blanks
    (readers accept both)."""
    at = head.find(b"%PDF-", 0, 1024)
    if at < 0:
        return False
    prefix = head[:at]
    return not prefix.strip() or b"\x00" in prefix or not _is_utf8(prefix, final=True)


def _is_utf8(data: bytes, *, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _is_text(head: bytes) -> bool:
    encoding, bom_len = _bom_encoding(head)
    # A short head is the whole file: it must decode completely. A full head
    # may end in the middle of a character.
    final = len(head) < HEAD_BYTES
    try:
        sample = codecs.getincrementaldecoder(encoding)().decode(head[bom_len:], final=final)
    except UnicodeDecodeError:
        return False
    if not sample or "\x00" in sample:
        return False
    controls = len(_CONTROL_RE.findall(sample))
    return controls <= MAX_CONTROL_FRACTION * len(sample)
