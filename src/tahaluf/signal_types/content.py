"""The content a signal type computes from, with the limits of one hashing run.

:class:`Content` is one input as the hashing service found it (a file of a
sniffed kind, an inline post, a URL). Signal types read it through
:meth:`Content.read` and :meth:`Content.digests`, which apply the limits and
read a file once, however many types hash it; what they find besides signals
(the text of a PDF, a video's frames) is left on it for the hashing result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tahaluf.errors import ContentTooLarge
from tahaluf.signals import digest

__all__ = ["HashOptions", "Content", "TEXT_PREVIEW_CHARS"]

#: how much of a text a result keeps for reports
TEXT_PREVIEW_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class HashOptions:
    """Limits and choices for one hashing run (all have safe defaults)."""

    #: refuse photos with more pixels than this (decompression bombs)
    max_pixels: int = 64_000_000
    #: refuse to load photos, PDFs and text files bigger than this into memory
    max_file_bytes: int = 256 * 1024 * 1024
    #: refuse texts longer than this many characters
    max_text_chars: int = 1_000_000
    #: sample videos at this many frames per second (None: every frame)
    video_fps: float | None = None
    #: stop decoding one video after this many seconds
    video_timeout_s: float = 300.0
    #: stop decoding one video after this many frames
    video_max_frames: int = 1_000_000
    #: read at most this many PDF pages
    pdf_max_pages: int = 2_000
    #: stop reading one PDF after this many content operators (all pages together)
    pdf_max_operators: int = 2_000_000
    #: stop reading one PDF after this many seconds
    pdf_timeout_s: float = 120.0
    #: compute the 8 dihedral PDQ hashes of each photo
    pdq_dihedral: bool = True
    #: pre-shrink photos to this many pixels per axis before PDQ (None: full
    #: size, bit-identical to python-threatexchange; see signals/photo.py)
    pdq_min_side: int | None = 512
    #: also hash the standard crops of each photo (for bank items; see banking.py)
    bank_crops: bool = False
    #: keep a small JPEG thumbnail of each photo and video (for bank items; see banking.py)
    preview: bool = False
    #: also hash photos with uniform borders removed (for queries)
    trim_borders: bool = False


@dataclass(slots=True)
class Content:
    """One input to hash: ``kind`` is ``file`` (any file's bytes), ``photo``, ``video``,
    ``pdf``, ``text`` (a text file), ``post`` (``value`` is the text) or ``url``."""

    kind: str
    opts: HashOptions
    path: str | None = None
    size: int = 0
    #: the text of a post or the URL
    value: str | None = None
    #: found while hashing, kept for reports: the text that was hashed
    text: str | None = None
    #: found while hashing: a video's frames
    frames: list[Any] | None = None
    _data: bytes | None = field(default=None, repr=False)
    _digests: tuple[str, str] | None = field(default=None, repr=False)

    def read(self, what: str) -> bytes:
        """The file's bytes (read once); ContentTooLarge beyond ``opts.max_file_bytes``."""
        if self.size > self.opts.max_file_bytes:
            raise ContentTooLarge(f"{what} is {self.size:,} bytes; the limit is {self.opts.max_file_bytes:,} bytes")
        if self._data is None:
            with open(self._file(), "rb") as fh:
                self._data = fh.read()
        return self._data

    def _file(self) -> str:
        if self.path is None:
            raise ValueError(f"{self.kind} content has no file")
        return self.path

    def digests(self) -> tuple[str, str]:
        """``(md5, sha256)`` hex of the file, computed in one streaming pass."""
        if self._digests is None:
            self._digests = digest.file_digests(self._file())
        return self._digests
