"""Hash content: turn files, folders, posts and URLs into signals.

This service sits between the pure signal kernels (``tahaluf.signals``) and
the interfaces (CLI, API). It walks inputs, sniffs each file's content type
from its bytes, calls the right kernels with the limits from
:class:`HashOptions`, and turns every failure of one input into an error on
that input's :class:`HashResult` so the rest of the work goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tahaluf import jsonbound
from tahaluf.errors import ContentTooLarge, InvalidInput, TahalufError, UnsupportedContent
from tahaluf.signals import digest, sniff
from tahaluf.signals.base import Signal

__all__ = [
    "HashOptions",
    "HashResult",
    "InputItem",
    "iter_inputs",
    "hash_item",
    "safe_hash",
    "ready_results",
    "hash_text",
    "hash_url",
    "JSONL_SUFFIXES",
]

JSONL_SUFFIXES = (".jsonl", ".ndjson")
#: how much of a text a result keeps for reports
TEXT_PREVIEW_CHARS = 20_000
#: files with these names are text even when their bytes are not UTF-8
#: (so a wrongly encoded post gets a clear error instead of passing as "file")
TEXT_SUFFIXES = (".txt", ".md", ".csv", ".tsv", ".text", ".post") + JSONL_SUFFIXES
#: a file whose name promises one of these but whose bytes are unrecognisable
#: is reported as an error (corrupt or mislabelled), not silently as "file"
MEDIA_SUFFIXES = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp"), "photo"),
    **dict.fromkeys((".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"), "video"),
    ".pdf": "pdf",
}


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
class HashResult:
    """The outcome for one input: its signals, or an error, or both."""

    path: str | None
    content_type: str | None = None
    signals: list[Signal] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    #: the post id, for JSONL posts
    id: str | None = None
    #: the line number, for JSONL posts
    line: int | None = None
    #: the JSONL file a post came from (post ids are unique only within their file)
    source: str | None = None
    #: vPDQ frames (kept for ``--format vpdq``; not part of the JSON line)
    frames: list[Any] | None = None
    #: the start of the text that was hashed (for reports; not part of the JSON line)
    text: str | None = None
    #: a JPEG thumbnail of a photo or video (with ``HashOptions.preview``)
    preview: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, exc: TahalufError) -> HashResult:
        self.error, self.error_code = exc.message, exc.code
        return self

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.id is not None:
            out["id"] = self.id
        if self.line is not None:
            out["line"] = self.line
        out["content_type"] = self.content_type
        out["signals"] = [s.to_json() for s in self.signals]
        out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class InputItem:
    """One thing to hash: a file path, or an inline text or URL."""

    kind: str  # "file" | "text" | "url"
    value: str
    id: str | None = None


def iter_inputs(paths: Iterable[str], *, relative_ids: bool = False) -> Iterator[InputItem | HashResult]:
    """Expand paths (folders are walked, sorted) into input items.

    A path that does not exist is yielded as a failed :class:`HashResult`
    so that it is reported in order with the rest. With ``relative_ids``,
    each file's id is its name (a file argument) or its path relative to the
    folder argument (``sub/photo.jpg``, with ``/``), never a path of this
    machine: what banks use as external ids.
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        path = Path(root) / name
                        rel = path.relative_to(p).as_posix() if relative_ids else None
                        yield InputItem("file", str(path), rel)
        elif p.is_file():
            yield InputItem("file", str(p), p.name if relative_ids else None)
        elif p.exists():
            yield HashResult(raw).fail(InvalidInput(f"not a regular file: {raw}"))
        else:
            yield HashResult(raw).fail(InvalidInput(f"no such file or folder: {raw}"))


def hash_item(item: InputItem, opts: HashOptions) -> list[HashResult]:
    """Hash one input; never raises for bad input (errors go on the result)."""
    if item.kind == "text":
        return [hash_text(item.value, opts, item_id=item.id)]
    if item.kind == "url":
        return [hash_url(item.value, item_id=item.id)]
    results = _hash_file(item.value, opts)
    if item.id is not None and len(results) == 1 and results[0].id is None:
        results[0].id = item.id  # a file's own id (JSONL posts keep theirs)
    if item.id is not None:
        for r in results:  # posts name their file as the caller named it, never by a path of this machine
            if r.source is not None:
                r.source = item.id
    return results


def safe_hash(args: tuple[InputItem, HashOptions]) -> list[HashResult]:
    """``hash_item`` for a process pool: one (item, options) tuple in, results out."""
    item, opts = args
    try:
        return hash_item(item, opts)
    except TahalufError as exc:
        return [HashResult(item.value if item.kind == "file" else None).fail(exc)]


def ready_results(entry: object) -> list[HashResult] | None:
    """``run_ordered`` passthrough: an input that already failed needs no work."""
    return [entry] if isinstance(entry, HashResult) else None


def hash_text(
    text: str, opts: HashOptions, *, path: str | None = None, item_id: str | None = None
) -> HashResult:
    """Hash an inline text post (``tahaluf hash --text``, JSONL posts)."""
    from tahaluf.signals.text import text_signal

    result = HashResult(path, "text", id=item_id, text=text[:TEXT_PREVIEW_CHARS])
    try:
        result.signals.append(text_signal(text, max_chars=opts.max_text_chars))
    except TahalufError as exc:
        result.fail(exc)
    return result


def hash_url(url: str, *, item_id: str | None = None) -> HashResult:
    """Hash a URL into its canonical ``url`` signal and pytx's ``url_md5``."""
    from tahaluf.signals.url import url_md5_signal, url_signal

    result = HashResult(None, "url", id=item_id)
    try:
        result.signals.append(url_signal(url))
        result.signals.append(url_md5_signal(url))
    except TahalufError as exc:
        result.fail(exc)
    return result


def _hash_file(path: str, opts: HashOptions) -> list[HashResult]:
    result = HashResult(path)
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise InvalidInput("empty file (0 bytes)")
        with open(path, "rb") as fh:
            head = fh.read(sniff.HEAD_BYTES)
        result.content_type = sniff.sniff_content_type(head, name=path)
        if result.content_type == "file" and path.lower().endswith(TEXT_SUFFIXES):
            result.content_type = "text"  # decode_text below says why it is not
        md5, sha256 = digest.file_digests(path)
        result.signals.extend(digest.digest_signals(md5, sha256))
        claimed = MEDIA_SUFFIXES.get(os.path.splitext(path)[1].lower())
        if result.content_type == "file" and claimed:
            raise UnsupportedContent(
                f"named like a {claimed} but its bytes are not a known {claimed} format "
                "(corrupt, truncated or mislabelled)"
            )
        if result.content_type == "text" and path.lower().endswith(JSONL_SUFFIXES):
            return _hash_jsonl(path, size, opts)
        _add_content_signals(result, path, size, opts)
    except TahalufError as exc:
        result.fail(exc)
    except OSError as exc:
        result.fail(InvalidInput(f"cannot read file: {exc.strerror or exc}"))
    return [result]


def _read_limited(path: str, size: int, opts: HashOptions, what: str) -> bytes:
    if size > opts.max_file_bytes:
        raise ContentTooLarge(
            f"{what} is {size:,} bytes; the limit is {opts.max_file_bytes:,} bytes"
        )
    with open(path, "rb") as fh:
        return fh.read()


def _add_content_signals(result: HashResult, path: str, size: int, opts: HashOptions) -> None:
    kind = result.content_type
    if kind == "photo":
        from tahaluf.signals.photo import hash_photo

        data = _read_limited(path, size, opts, "photo")
        sig = hash_photo(
            data,
            max_pixels=opts.max_pixels,
            min_side=opts.pdq_min_side,
            query_variants=opts.trim_borders,
            bank_crops=opts.bank_crops,
        )
        if not opts.pdq_dihedral:
            sig = Signal(sig.type, sig.value, {k: v for k, v in sig.extra.items() if k != "dihedral"})
        result.signals.append(sig)
        if opts.preview:
            from tahaluf.services.previews import photo_thumbnail

            result.preview = photo_thumbnail(data, max_pixels=opts.max_pixels)
    elif kind == "video":
        from tahaluf.signals.video import hash_video, video_signal

        frames = hash_video(
            path,
            fps=opts.video_fps,
            timeout_s=opts.video_timeout_s,
            max_frames=opts.video_max_frames,
        )
        result.frames = frames
        result.signals.append(video_signal(frames))
        if opts.preview:
            from tahaluf.services.previews import video_thumbnails

            middle = frames[len(frames) // 2].timestamp_s if frames else 0.0
            result.preview = video_thumbnails(path, [middle])[0]
    elif kind == "pdf":
        from tahaluf.signals.pdf import extract_pdf_text
        from tahaluf.signals.text import text_signal

        data = _read_limited(path, size, opts, "PDF")
        text = extract_pdf_text(
            data,
            max_pages=opts.pdf_max_pages,
            max_chars=opts.max_text_chars,
            max_operators=opts.pdf_max_operators,
            timeout_s=opts.pdf_timeout_s,
        )
        if text.strip():
            result.text = text[:TEXT_PREVIEW_CHARS]
            result.signals.append(text_signal(text, max_chars=opts.max_text_chars))
    elif kind == "text":
        from tahaluf.signals.text import text_signal

        text = sniff.decode_text(_read_limited(path, size, opts, "text file"))
        result.text = text[:TEXT_PREVIEW_CHARS]
        result.signals.append(text_signal(text, max_chars=opts.max_text_chars))


def _hash_jsonl(path: str, size: int, opts: HashOptions) -> list[HashResult]:
    """Each line ``{"id": ..., "text": ...}`` (or ``"url"``/``"path"``) is one post."""
    results: list[HashResult] = []
    if size > opts.max_file_bytes:
        raise ContentTooLarge(
            f"JSONL file is {size:,} bytes; the limit is {opts.max_file_bytes:,} bytes"
        )
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            results.extend(_hash_jsonl_line(path, lineno, raw, opts))
    return results


def _hash_jsonl_line(path: str, lineno: int, raw: bytes, opts: HashOptions) -> list[HashResult]:
    try:
        obj = jsonbound.loads(sniff.decode_text(raw), what="the line")
    except (ValueError, TahalufError) as exc:
        msg = exc.message if isinstance(exc, TahalufError) else str(exc)
        return [HashResult(path, line=lineno, source=path).fail(InvalidInput(f"line {lineno}: not JSON: {msg}"))]
    if not isinstance(obj, dict):
        return [HashResult(path, line=lineno, source=path).fail(
            InvalidInput(f"line {lineno}: expected a JSON object"))]
    item_id = obj.get("id")
    item_id = None if item_id is None else str(item_id)
    if isinstance(obj.get("text"), str):
        res = hash_text(obj["text"], opts, path=path, item_id=item_id)
    elif isinstance(obj.get("url"), str):
        res = hash_url(obj["url"], item_id=item_id)
        res.path = path
    elif isinstance(obj.get("path"), str):
        target = obj["path"]
        if not os.path.isabs(target):
            target = os.path.join(os.path.dirname(path), target)
        out = _hash_file(target, opts)
        for r in out:
            r.id, r.line, r.source = item_id, lineno, path
        return out
    else:
        res = HashResult(path, id=item_id).fail(
            InvalidInput(f'line {lineno}: needs a string "text", "url" or "path" field')
        )
    res.line, res.source = lineno, path
    return [res]
