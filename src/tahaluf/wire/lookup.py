"""Lookups and hashes on the wire (``/v1/lookup...``, ``/v1/hash...``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tahaluf.services.hashing import HashResult
from tahaluf.services.scanning import ScanResult

__all__ = ["MatchOut", "LookupResult", "LookupBatchOut", "HashOut", "lookup_out", "lookup_batch_out", "hash_out"]


class MatchOut(BaseModel):
    bank: str
    bank_kind: str
    item_id: int
    external_id: str
    signal_type: str
    distance: int | None = None
    similarity: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)


class LookupResult(BaseModel):
    input: str
    content_type: str | None = None
    matches: list[MatchOut]
    allowed: bool
    actionable: bool
    error: str | None = None


class LookupBatchOut(BaseModel):
    results: list[LookupResult]


class HashOut(BaseModel):
    content_type: str | None = None
    signals: list[dict[str, Any]]
    error: str | None = None


def lookup_out(result: ScanResult) -> LookupResult:
    return LookupResult.model_validate(result.to_json())


def lookup_batch_out(results: list[ScanResult]) -> LookupBatchOut:
    return LookupBatchOut(results=[lookup_out(r) for r in results])


def hash_out(result: HashResult, content_type: str | None) -> HashOut:
    return HashOut(content_type=content_type, signals=[s.to_json() for s in result.signals], error=None)
