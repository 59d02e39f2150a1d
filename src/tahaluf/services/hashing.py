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
from tahaluf.errors import (
    ContentTooLarge,
    InvalidInput,
    TahalufError,
    UnsupportedContent,
)
from tahaluf.services.previews import photo_thumbnail, video_thumbnails
from tahaluf.signal_types import registry
from tahaluf.signal_types.content import TEXT_PREVIEW_CHARS, Content, HashOptions
from tahaluf.signals import sniff
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


def safe_hash(args: tuple[InputItem, HashOptions] | HashResult) -> list[HashResult]:
    """``hash_item`` for a process pool: one (item, options) tuple in, results out
    (an input that already failed comes back as it is, see :func:`ready_results`)."""
    if isinstance(args, HashResult):
        return [args]
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
    result = HashResult(path, "text", id=item_id, text=text[:TEXT_PREVIEW_CHARS])
    _compute(result, Content("post", opts, value=text))
    return result


def hash_url(url: str, *, item_id: str | None = None) -> HashResult:
    """Hash a URL into the signals of every type computed from URLs (``url``, pytx's ``url_md5``)."""
    result = HashResult(None, "url", id=item_id)
    _compute(result, Content("url", HashOptions(), value=url))
    return result


def _compute(result: HashResult, content: Content) -> None:
    """Add the signals of every type computed from ``content``; the first failure ends the
    input, as its error (the signals before it stay)."""
    try:
        for kind in registry.for_content(content.kind):
            result.signals.extend(kind.compute(content))
    except TahalufError as exc:
        result.fail(exc)


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
        content = Content("file", opts, path, size)
        for kind in registry.for_content("file"):  # the file's bytes (md5, sha256)
            result.signals.extend(kind.compute(content))
        claimed = MEDIA_SUFFIXES.get(os.path.splitext(path)[1].lower())
        if result.content_type == "file" and claimed:
            raise UnsupportedContent(
                f"named like a {claimed} but its bytes are not a known {claimed} format "
                "(corrupt, truncated or mislabelled)"
            )
        if result.content_type == "text" and path.lower().endswith(JSONL_SUFFIXES):
            return _hash_jsonl(path, size, opts)
        if result.content_type != "file":  # then what the content is: a photo's PDQ, a document's text
            content.kind = result.content_type
            try:
                for kind in registry.for_content(content.kind):
                    result.signals.extend(kind.compute(content))
            finally:
                result.text, result.frames = content.text, content.frames
        if opts.preview:
            _add_preview(result, content)
    except TahalufError as exc:
        result.fail(exc)
    except OSError as exc:
        result.fail(InvalidInput(f"cannot read file: {exc.strerror or exc}"))
    return [result]


def _add_preview(result: HashResult, content: Content) -> None:
    """A JPEG thumbnail of a photo, or of a video's middle frame."""
    if content.kind == "photo":
        result.preview = photo_thumbnail(content.read("photo"), max_pixels=content.opts.max_pixels)
    elif content.kind == "video" and content.path is not None:
        frames = content.frames or []
        middle = frames[len(frames) // 2].timestamp_s if frames else 0.0
        result.preview = video_thumbnails(content.path, [middle])[0]


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
