"""JSON from untrusted sources, with its nesting bounded before it is parsed.

Python's :func:`json.loads` recurses once per nested array or object: a few
thousand ``[`` raise :class:`RecursionError` (in a server thread, with a
smaller stack, worse), which is no :class:`ValueError` and so escapes the
callers' error handling. :func:`check_depth` measures the nesting of a JSON
text without parsing it (string literals skipped, then a running sum over the brackets), and
:func:`loads` refuses a text nested deeper than ``max_depth`` with
:class:`~tahaluf.errors.InvalidInput` before :func:`json.loads` sees it.

Every entry point that parses JSON it did not write itself uses this module:
request bodies (``tahaluf.api.app.JsonDepthLimit``), signal values (vPDQ
lists), JSONL posts, bank imports and form fields holding JSON.

This module imports only the standard library, numpy and :mod:`tahaluf.errors`,
so kernels may use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from tahaluf.errors import InvalidInput

__all__ = ["DEFAULT_MAX_DEPTH", "JsonTooDeep", "check_depth", "json_depth", "loads"]

#: deepest nesting of arrays and objects accepted by default (tahaluf's own
#: documents nest at most 6 levels)
DEFAULT_MAX_DEPTH = 64

# a complete JSON string literal (escapes included); an unterminated one is
# left in place, which can only over-count the depth of a text that is not
# JSON anyway
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# +1 for an opening bracket, -1 for a closing one
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_CHUNK = 1 << 20


class JsonTooDeep(InvalidInput):
    """A JSON text nests arrays or objects deeper than allowed."""


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in ``text`` (0 for a scalar)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    if "[" not in text and "{" not in text:
        return 0
    if '"' in text:
        text = _STRING.sub("", text)
    # UTF-8 bytes of other characters are never bracket bytes
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for start in range(0, len(brackets), _CHUNK):
        steps = np.cumsum(_STEP[np.frombuffer(brackets, np.uint8, min(_CHUNK, len(brackets) - start), start)],
                          dtype=np.int64) + depth
        deepest = max(deepest, int(steps.max()))
        depth = int(steps[-1])
    return deepest


def check_depth(text: str | bytes, max_depth: int = DEFAULT_MAX_DEPTH, *, what: str = "JSON") -> None:
    """Raise :class:`JsonTooDeep` when ``text`` nests deeper than ``max_depth``."""
    depth = json_depth(text)
    if depth > max_depth:
        raise JsonTooDeep(f"{what} is nested {depth} levels deep; the limit is {max_depth}")


def loads(text: str | bytes, max_depth: int = DEFAULT_MAX_DEPTH, *, what: str = "JSON") -> Any:
    """:func:`json.loads` after :func:`check_depth`.

    Raises :class:`JsonTooDeep` for too deep a text and :class:`json.JSONDecodeError`
    (a :class:`ValueError`) for malformed JSON, as :func:`json.loads` does.
    """
    check_depth(text, max_depth, what=what)
    return json.loads(text)
