"""Uploads shared by the routers: writing an upload to a temporary file, hashing
it within the hub's time budget, and turning a hashing error into its API error."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool

from tahaluf import errors
from tahaluf.errors import ContentTooLarge, InvalidInput, TahalufError
from tahaluf.services.hashing import HashOptions, HashResult, InputItem, hash_item
from tahaluf.services.hub import Hub

__all__ = ["upload_path", "hash_upload", "hash_upload_kept", "content_error"]

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@contextmanager
def upload_path(upload: UploadFile, max_bytes: int) -> Iterator[str]:
    """Write an upload to a temporary file (keeping a safe suffix for type checks)."""
    suffix = os.path.splitext(upload.filename or "")[1]
    suffix = suffix if _SAFE_SUFFIX.match(suffix) else ""
    fd, path = tempfile.mkstemp(prefix="tahaluf-upload-", suffix=suffix)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = upload.file.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    raise ContentTooLarge(f"upload over the limit of {max_bytes:,} bytes")
                out.write(chunk)
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


async def hash_upload(hub: Hub, file: UploadFile, opts: HashOptions) -> HashResult:
    """Hash one uploaded file in a worker thread, within ``upload_timeout_s``."""
    result, _data = await _hash(hub, file, opts, keep=False)
    return result


async def hash_upload_kept(hub: Hub, file: UploadFile, opts: HashOptions) -> tuple[HashResult, bytes]:
    """:func:`hash_upload`, and the upload's bytes (for the evidence store)."""
    return await _hash(hub, file, opts, keep=True)


async def _hash(hub: Hub, file: UploadFile, opts: HashOptions, *, keep: bool) -> tuple[HashResult, bytes]:
    # a request must not hold a worker thread for the CLI's 300 s video or 120 s PDF budget
    limit_s = hub.config.upload_timeout_s
    opts = replace(opts, video_timeout_s=min(opts.video_timeout_s, limit_s),
                   pdf_timeout_s=min(opts.pdf_timeout_s, limit_s))

    def work() -> tuple[HashResult, bytes]:
        with upload_path(file, hub.config.max_request_bytes) as path:
            results = hash_item(InputItem("file", path), opts)
            data = Path(path).read_bytes() if keep and len(results) == 1 and results[0].ok else b""
        if len(results) != 1:
            raise InvalidInput("upload one photo, video, PDF or text file (not a JSONL batch)")
        result = results[0]
        result.path = file.filename or "upload"
        return result, data

    return await run_in_threadpool(work)


def content_error(result: HashResult) -> TahalufError:
    """The API error for an upload that could not be hashed."""
    by_code = {cls.code: cls for cls in (errors.UnsupportedContent, errors.ContentTooLarge, errors.DecodeError,
                                         errors.Timeout)}
    return by_code.get(result.error_code or "", InvalidInput)(result.error or "cannot hash this content")
