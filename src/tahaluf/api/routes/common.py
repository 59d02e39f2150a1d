"""Shared pieces of the /v1 routers: the router factory and request bodies (uploads: :mod:`tahaluf.api.uploads`)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tahaluf.api.errors import ERROR_RESPONSES
from tahaluf.signal_types import registry

__all__ = ["make_router", "Strict", "SignalIn", "SIGNAL_TYPE"]

#: a registered signal type (checked, and listed in the OpenAPI schema, from the registry when used)
SIGNAL_TYPE = Annotated[str, AfterValidator(registry.check_name),
                        Field(json_schema_extra=lambda schema: schema.update(enum=list(registry.names())))]


def make_router(tag: str) -> APIRouter:
    return APIRouter(tags=[tag], responses=ERROR_RESPONSES)


class Strict(BaseModel):
    """Request bodies refuse unknown fields, NUL characters and non-finite numbers."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        _check_clean(data)
        return data


def _check_clean(data: Any) -> None:
    """Refuse what JSON lets through but no field may hold: NUL characters (PostgreSQL
    refuses them in text) and NaN or infinite numbers (not JSON, cannot be sent back)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("NUL characters are not allowed")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("NaN and infinite numbers are not allowed")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


class SignalIn(Strict):
    type: SIGNAL_TYPE = Field(description="signal type")
    value: str = Field(min_length=1, max_length=2_000_000,
                       description="hex for pdq/md5/sha256, a URL or its hash for url, "
                       "the post itself or a t1: sketch for text, tahaluf/pytx JSON for vpdq")
