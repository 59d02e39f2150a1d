"""tahaluf's own neutral demo content (generated pictures and video, hand-written posts)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["demo_content_dir"]


def demo_content_dir() -> Path:
    """The folder holding the shipped demo content."""
    return Path(str(files("tahaluf.demo") / "content"))
