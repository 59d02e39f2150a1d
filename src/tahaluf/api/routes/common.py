"""Shared pieces of the /v1 routers: the router factory, signal bodies, uploads."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from fastapi import APIRouter, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from tahaluf.api.errors import ERROR_RESPONSES
from tahaluf.errors import InvalidInput

__all__ = ["make_router", "Strict", "SignalIn", "SIGNAL_TYPE", "upload_path", "Page"]

SIGNAL_TYPE = Literal["pdq", "md5", "sha256", "url", "text", "vpdq"]


def make_router(tag: str) -> APIRouter:
    return APIRouter(tags=[tag], responses=ERROR_RESPONSES)


class Strict(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class SignalIn(Strict):
    type: SIGNAL_TYPE = Field(description="signal type")
    value: str = Field(min_length=1, max_length=2_000_000,
                       description="hex for pdq/md5/sha256, a URL or its hash for url, "
                       "the post itself or a t1: sketch for text, tahaluf/pytx JSON for vpdq")


class Page(BaseModel):
    """A page of a listing: pass ``next_after`` as ``after`` for the next page (null: last page)."""

    next_after: int | None = None


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
                    raise InvalidInput(f"upload over the limit of {max_bytes:,} bytes")
                out.write(chunk)
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass

