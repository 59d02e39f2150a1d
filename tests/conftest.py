"""Shared fixtures: paths to the reference data and the demo content."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / ".." / "shared" / "reference").resolve()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE} (see ../shared/reference/README.md)")
    return REFERENCE


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    from tahaluf.demo import demo_content_dir

    return demo_content_dir()
