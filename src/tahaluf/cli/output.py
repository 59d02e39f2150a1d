"""Shared CLI output helpers: JSON lines on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from tahaluf.errors import TahalufError

__all__ = ["print_json_line", "fail", "warn"]


def print_json_line(obj: dict[str, Any]) -> None:
    """Print one JSON object on its own line (UTF-8, Arabic kept readable)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def fail(exc: TahalufError) -> NoReturn:
    """End the command with ``error: <message>`` and the error's exit status."""
    sys.stdout.flush()
    sys.stderr.write(f"error: {exc.message}\n")
    raise SystemExit(exc.exit_code)
