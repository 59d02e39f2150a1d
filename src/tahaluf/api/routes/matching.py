"""Hash and lookup: ``/v1/hash``, ``/v1/lookup`` (by value, batch, content, text)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, File, Query, UploadFile
from pydantic import Field

from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, require
from tahaluf.api.routes.common import SIGNAL_TYPE, SignalIn, Strict, make_router
from tahaluf.api.uploads import content_error, hash_upload
from tahaluf.banks import validate_signal
from tahaluf.errors import InvalidInput
from tahaluf.services.hashing import HashOptions, hash_text
from tahaluf.services.hub import Hub
from tahaluf.services.lookup import LookupEntry
from tahaluf.services.scanning import ScanResult, lookup_signal
from tahaluf.signals.base import Signal
from tahaluf.wire.lookup import HashOut, LookupBatchOut, LookupResult, hash_out, lookup_batch_out, lookup_out

log = logging.getLogger("tahaluf.api")
router = make_router("matching")
_matcher = require(Capability.MATCH)


class LookupBatch(Strict):
    signals: list[SignalIn] = Field(min_length=1, description="up to max_batch (default 1,000) values")
    exclude_disputed: bool | None = None


class TextIn(Strict):
    text: str = Field(min_length=1, max_length=1_000_000)
    exclude_disputed: bool | None = None


def match_results(hub: Hub, who: Principal, entries: list[tuple[ScanResult, list[Signal]]],
                  exclude_disputed: bool | None) -> list[ScanResult]:
    """Look the prepared entries up (errors already set stay unmatched; hooks run in the service)."""
    return hub.lookup.lookup(who, [LookupEntry(res, sigs) for res, sigs in entries],
                             exclude_disputed=exclude_disputed)


def _lookup_entry(signal_type: str, value: str) -> tuple[ScanResult, Signal | None]:
    """The result to fill for one looked-up value and its signal (None: invalid, error set)."""
    res, sig = lookup_signal(signal_type, value)
    if sig is not None and sig.type == "text":
        try:
            validate_signal(sig)  # a t1: sketch given as the value is parsed here
        except InvalidInput as exc:
            res.error, sig = exc.message, None
    return res, sig


@router.get("/lookup", summary="Look up one signal value", response_model=LookupResult,
            response_model_exclude_unset=True)
async def lookup_one(
    type: Annotated[SIGNAL_TYPE, Query(description="signal type")],
    value: Annotated[str, Query(min_length=1, max_length=100_000)],
    exclude_disputed: bool | None = None,
    who: Principal = Depends(_matcher),
    hub: Hub = Depends(get_hub),
) -> LookupResult:
    res, sig = _lookup_entry(type, value)
    if sig is None:
        raise InvalidInput(res.error or "invalid value")
    [done] = match_results(hub, who, [(res, [sig])], exclude_disputed)
    return lookup_out(done)


@router.post("/lookup", summary="Look up a batch of signal values", response_model=LookupBatchOut,
             response_model_exclude_unset=True)
async def lookup_batch(
    body: LookupBatch, who: Principal = Depends(_matcher), hub: Hub = Depends(get_hub)
) -> LookupBatchOut:
    limit = hub.config.max_batch
    if len(body.signals) > limit:
        raise InvalidInput(f"{len(body.signals)} values in one batch; the limit is {limit}")
    entries = []
    bad = []
    for number, s in enumerate(body.signals, 1):
        res, sig = _lookup_entry(s.type, s.value)
        if sig is None:
            bad.append(f"signals[{number - 1}]: {res.error}")
        entries.append((res, [sig] if sig else []))
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise InvalidInput("; ".join(bad[:3]) + more)
    done = match_results(hub, who, entries, body.exclude_disputed)
    return lookup_batch_out(done)


@router.post("/lookup/text", summary="Look up a text post", response_model=LookupResult,
             response_model_exclude_unset=True)
async def lookup_text(
    body: TextIn, who: Principal = Depends(_matcher), hub: Hub = Depends(get_hub)
) -> LookupResult:
    result = hash_text(body.text, HashOptions())
    if result.error:
        raise InvalidInput(result.error)
    res = ScanResult(body.text[:80], "text", text=body.text[:2000])
    [done] = match_results(hub, who, [(res, result.signals)], body.exclude_disputed)
    return lookup_out(done)


@router.post("/lookup/content", summary="Upload content and look it up", response_model=LookupResult,
             response_model_exclude_unset=True)
async def lookup_content(
    file: Annotated[UploadFile, File(description="a photo, video, PDF or text file")],
    exclude_disputed: bool | None = None,
    who: Principal = Depends(_matcher),
    hub: Hub = Depends(get_hub),
) -> LookupResult:
    result = await hash_upload(hub, file, HashOptions(trim_borders=True))
    if result.error:
        raise content_error(result)
    res = ScanResult(result.path or "upload", result.content_type, text=result.text)
    [done] = match_results(hub, who, [(res, result.signals)], exclude_disputed)
    return lookup_out(done)


@router.post("/hash", summary="Upload content and get its signals", response_model=HashOut,
             response_model_exclude_unset=True)
async def hash_content(
    file: Annotated[UploadFile, File(description="a photo, video, PDF or text file")],
    who: Principal = Depends(_matcher),
    hub: Hub = Depends(get_hub),
) -> HashOut:
    result = await hash_upload(hub, file, HashOptions())
    if result.error:
        raise content_error(result)
    return hash_out(result, result.content_type)


@router.post("/hash/text", summary="Get the signals of a text post", response_model=HashOut,
             response_model_exclude_unset=True)
async def hash_post(body: TextIn, who: Principal = Depends(_matcher)) -> HashOut:
    result = hash_text(body.text, HashOptions())
    if result.error:
        raise InvalidInput(result.error)
    return hash_out(result, "text")
