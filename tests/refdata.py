"""Where the PDQ/vPDQ reference vectors are: the full set or the shipped subset.

The full set lives outside the repository, in ``../shared/reference`` (see its
README). A clone of the public repository does not have it, so the project
carries a small subset in ``tests/reference`` (same layout, same licence): the
tests use the full set when it is there and the subset otherwise. Under
``CI=true`` the full set is required (conftest.py stops the run without it).
Tests that need a file only the full set has are marked :data:`needs_full`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FULL = (ROOT / ".." / "shared" / "reference").resolve()
SUBSET = ROOT / "tests" / "reference"
#: TAHALUF_REFERENCE=subset uses the shipped subset even when the full set exists
HAVE_FULL = FULL.is_dir() and os.environ.get("TAHALUF_REFERENCE") != "subset"
REFERENCE = FULL if HAVE_FULL else SUBSET
CI = os.environ.get("CI") == "true"

needs_full = pytest.mark.skipif(
    not HAVE_FULL, reason=f"needs the full reference set at {FULL} (tests/reference holds a subset)"
)
