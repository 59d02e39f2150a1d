"""The wire format: one pydantic model per answer, and the functions that turn the
services' typed results into them. The HTTP API returns these models (validated
against its response models) and the command line's ``--json`` prints their
:func:`dump`, so both speak the same JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["dump"]


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as the JSON object the API sends (fields the service left out stay out)."""
    return model.model_dump(mode="json", exclude_unset=True)
