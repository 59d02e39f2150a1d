"""Content-type sniffing, strict text decoding, and file digests.

(The digest tests live here too: ``signals/digest.py`` and ``signals/sniff.py``
are the two halves of the first look at a file.)
"""

from __future__ import annotations

import codecs
import hashlib
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

from tahaluf.errors import DecodeError, InvalidInput
from tahaluf.signals.base import Signal
from tahaluf.signals.digest import bytes_digests, digest_signals, file_digests
from tahaluf.signals.sniff import CONTENT_KINDS, HEAD_BYTES, decode_text, sniff_content_type

# A neutral Arabic sentence: "The weather today is sunny in Cairo."
ARABIC = "الطقس اليوم مشمس في القاهرة"
ENGLISH = "The football match starts at seven in the evening."
FRENCH = "La recette du jour : une soupe de lentilles épicée."


def _image_bytes(fmt: str, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(7)
    array = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    image = Image.fromarray(array, "RGB").convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _video_file(tmp_path: Path, container: str, codec: str, suffix: str) -> Path:
    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, 10)
        for i in range(6):
            array = np.full((32, 32, 3), i * 40, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


# --- photos -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("WEBP", "RGB"), ("TIFF", "RGB"), ("BMP", "RGB")],
)
def test_images_are_photos(fmt: str, mode: str) -> None:
    data = _image_bytes(fmt, mode)
    assert sniff_content_type(data) == "photo"
    assert sniff_content_type(data[:HEAD_BYTES], name="x.bin") == "photo"


def test_big_endian_tiff_is_photo() -> None:
    out = io.BytesIO()
    Image.new("L", (8, 8), 90).save(out, format="TIFF")
    little = out.getvalue()
    assert little.startswith(b"II*\x00")
    assert sniff_content_type(b"MM\x00*" + little[4:]) == "photo"


def test_avif_is_photo_when_pillow_can_read_it() -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    data = _image_bytes("AVIF")
    assert data[4:8] == b"ftyp"
    assert sniff_content_type(data) == "photo"
    Image.open(io.BytesIO(data)).load()  # and Pillow really reads it


def test_heic_without_a_heif_plugin_is_file() -> None:
    Image.init()
    if "HEIF" in Image.OPEN:
        pytest.skip("a HEIF plugin (pillow-heif) is installed")
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert sniff_content_type(head) == "file"


def test_image_named_txt_is_photo() -> None:
    assert sniff_content_type(_image_bytes("PNG"), name="notes.txt") == "photo"


# --- videos -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "codec", "suffix"),
    [
        ("mp4", "mpeg4", ".mp4"),
        ("mov", "mpeg4", ".mov"),
        ("webm", "libvpx", ".webm"),
        ("matroska", "mpeg4", ".mkv"),
        ("avi", "mpeg4", ".avi"),
        ("flv", "flv", ".flv"),
        ("mpegts", "mpeg2video", ".ts"),
    ],
)
def test_videos_are_videos(tmp_path: Path, container: str, codec: str, suffix: str) -> None:
    path = _video_file(tmp_path, container, codec, suffix)
    assert sniff_content_type(_head(path), name=path.name) == "video"
    renamed = path.rename(tmp_path / "clip.txt")
    assert sniff_content_type(_head(renamed), name=renamed.name) == "video"


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 32,
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 32,
        b"\x00\x00\x00\x1cftypM4V \x00\x00\x00\x01M4V M4A mp42" + b"\x00" * 32,
        b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat" + b"\x00" * 32,
    ],
)
def test_iso_media_brands(head: bytes) -> None:
    assert sniff_content_type(head) == "video"


def test_audio_only_mp4_is_file() -> None:
    head = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42" + b"\x00" * 32
    assert sniff_content_type(head) == "file"


def test_wav_is_file_not_video() -> None:
    head = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32
    assert sniff_content_type(head) == "file"


# --- PDF --------------------------------------------------------------------


def test_pdf_is_pdf() -> None:
    assert sniff_content_type(MINIMAL_PDF) == "pdf"
    assert sniff_content_type(MINIMAL_PDF, name="photo.jpg") == "pdf"


def test_pdf_after_binary_junk_is_pdf_but_quoted_in_text_is_text() -> None:
    assert sniff_content_type(b"\x00\x01\x02junk" + MINIMAL_PDF) == "pdf"
    quoted = b"Files start with the marker %PDF-1.7 and end with %%EOF.\n"
    assert sniff_content_type(quoted) == "text"


# --- text -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        ENGLISH.encode(),
        ARABIC.encode(),
        FRENCH.encode(),
        codecs.BOM_UTF8 + ARABIC.encode(),
        codecs.BOM_UTF16_LE + ARABIC.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + ENGLISH.encode("utf-16-be"),
        b'{"id": "1", "text": "' + ARABIC.encode() + b'"}\n{"id": "2", "text": "x"}\n',
        ("\u200f" + ARABIC + "\u200d\n").encode(),  # RTL mark and ZWJ are fine
        b"BM is not a bitmap header here, just text starting with BM.",
    ],
)
def test_text_is_text(data: bytes) -> None:
    assert sniff_content_type(data) == "text"


def test_text_named_jpg_is_text() -> None:
    assert sniff_content_type(ARABIC.encode(), name="photo.jpg") == "text"


def test_long_text_cut_inside_a_character_is_text() -> None:
    data = (ARABIC + "\n").encode() * 3000
    head = data[:HEAD_BYTES]
    assert len(head) == HEAD_BYTES
    with pytest.raises(UnicodeDecodeError):
        head.decode("utf-8")  # the cut really splits a character
    assert sniff_content_type(head) == "text"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        ARABIC.encode("cp1256"),
        ARABIC.encode("utf-16-le"),  # no BOM: NULs would be needed to tell
        ENGLISH.encode() + b"\x00" + ENGLISH.encode(),
        b"\x1b[31m\x01\x02\x03\x04" * 10,
        bytes(range(256)) * 4,
        b"PK\x03\x04" + b"\x14\x00" * 20,
        b"\x1f\x8b\x08\x00" + b"\x00" * 20,
        codecs.BOM_UTF8,
    ],
)
def test_binary_is_file(data: bytes) -> None:
    assert sniff_content_type(data) == "file"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_sniff_always_answers_a_known_kind(data: bytes) -> None:
    assert sniff_content_type(data) in CONTENT_KINDS


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), min_size=1))
def test_printable_utf8_is_text_and_decodes_back(text: str) -> None:
    data = text.encode("utf-8")
    if data.startswith((b"%PDF-", b"BM", b"GIF8", b"FLV")):
        return
    assert sniff_content_type(data) == "text"
    assert decode_text(data) == text


# --- decode_text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        ARABIC.encode("utf-8"),
        codecs.BOM_UTF8 + ARABIC.encode("utf-8"),
        codecs.BOM_UTF16_LE + ARABIC.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + ARABIC.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + ARABIC.encode("utf-32-le"),
    ],
)
def test_decode_text(data: bytes) -> None:
    assert decode_text(data) == ARABIC


def test_decode_keeps_line_breaks() -> None:
    text = f"{ENGLISH}\r\n{FRENCH}\n{ARABIC}"
    assert decode_text(text.encode()) == text


def test_cp1256_is_refused_with_a_hint() -> None:
    with pytest.raises(DecodeError) as info:
        decode_text(ARABIC.encode("cp1256"))
    message = info.value.message
    assert "not UTF-8 text" in message
    assert "offset 0" in message
    assert "WINDOWS-1256" in message
    assert isinstance(info.value, InvalidInput)


def test_bad_utf16_and_nul_are_refused() -> None:
    with pytest.raises(DecodeError, match="UTF-16-LE"):
        decode_text(codecs.BOM_UTF16_LE + b"\x00\xd8\x41")  # lone high surrogate
    with pytest.raises(DecodeError, match="NUL"):
        decode_text(b"abc\x00def")


# --- digests ----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 16) + 3])
@pytest.mark.parametrize("chunk_bytes", [1, 4096, 1 << 20])
def test_file_digests_match_hashlib(tmp_path: Path, size: int, chunk_bytes: int) -> None:
    if chunk_bytes == 1 and size > 1000:
        return  # a byte at a time over 64 KiB is slow and proves nothing more
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    assert file_digests(path, chunk_bytes=chunk_bytes) == expected
    assert file_digests(str(path)) == expected
    assert bytes_digests(data) == expected


def test_known_digests_of_empty_input() -> None:
    assert bytes_digests(b"") == (
        "d41d8cd98f00b204e9800998ecf8427e",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        file_digests(tmp_path / "missing.bin")


def test_digest_signals() -> None:
    md5, sha256 = bytes_digests(ENGLISH.encode())
    assert digest_signals(md5.upper(), sha256) == [Signal("md5", md5), Signal("sha256", sha256)]
    with pytest.raises(InvalidInput, match="MD5"):
        digest_signals("abc", sha256)
    with pytest.raises(InvalidInput, match="SHA-256"):
        digest_signals(md5, sha256 + "\n")
