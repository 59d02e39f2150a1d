"""The label vocabulary: which labels a bank or bank item may carry.

Labels are a small JSON object::

    {"entity": "demo-entity", "tier": "promotional",
     "behaviours": ["symbols"], "language": "ar", "tags": ["2024", "poster"]}

Every key is optional. The allowed values are configuration, read from a TOML
file (``labels_default.toml`` ships with tahaluf and documents each field), so
a coalition can change its taxonomy without changing code.
:meth:`LabelVocabulary.validate` checks labels given on input and returns
them normalised (strings stripped, lists de-duplicated in input order); any
problem raises :class:`~tahaluf.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tahaluf.errors import InvalidInput

__all__ = [
    "LIST_LABELS",
    "LABEL_KEYS",
    "DEFAULT_VOCABULARY_PATH",
    "LabelVocabulary",
    "load_vocabulary",
    "default_vocabulary",
    "parse_label_args",
    "merge_labels",
]

#: keys a label object may have; list-valued keys hold several values
LABEL_KEYS = ("entity", "tier", "behaviours", "language", "tags")
_LIST_KEYS = frozenset({"behaviours", "tags"})
#: labels that hold lists (united with the bank defaults, not replaced)
LIST_LABELS = _LIST_KEYS

DEFAULT_VOCABULARY_PATH = Path(__file__).with_name("labels_default.toml")


@dataclass(frozen=True, slots=True)
class _FieldRule:
    """Allowed values of one label field: an explicit list and/or a pattern."""

    allowed: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    max_count: int = 64

    def check(self, key: str, value: str) -> None:
        if self.allowed and value not in self.allowed:
            raise InvalidInput(
                f"label {key}={value!r} is not in the vocabulary "
                f"(allowed: {', '.join(self.allowed)})"
            )
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise InvalidInput(
                f"label {key}={value!r} does not match the pattern {self.pattern.pattern}"
            )


@dataclass(frozen=True, slots=True)
class LabelVocabulary:
    """The rules for each label key, as read from a TOML file."""

    rules: Mapping[str, _FieldRule]
    source: str = "<builtin>"

    def validate(self, labels: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``labels`` normalised, or raise InvalidInput naming the bad field."""
        if not isinstance(labels, Mapping):
            raise InvalidInput(f"labels must be an object, got {type(labels).__name__}")
        out: dict[str, Any] = {}
        for key, raw in labels.items():
            if key not in self.rules:
                raise InvalidInput(
                    f"unknown label {key!r} (known labels: {', '.join(LABEL_KEYS)})"
                )
            rule = self.rules[key]
            if key in _LIST_KEYS:
                values = _as_list(key, raw)
                if len(values) > rule.max_count:
                    raise InvalidInput(f"label {key} has {len(values)} values (max {rule.max_count})")
                for value in values:
                    rule.check(key, value)
                out[key] = values
            else:
                value = _as_str(key, raw)
                rule.check(key, value)
                out[key] = value
        return out


def _as_str(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidInput(f"label {key} must be a string, got {type(raw).__name__}")
    value = raw.strip()
    if not value:
        raise InvalidInput(f"label {key} is empty")
    return value


def _as_list(key: str, raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput(f"label {key} must be a list of strings, got {type(raw).__name__}")
    values: list[str] = []
    for item in raw:
        value = _as_str(key, item)
        if value not in values:
            values.append(value)
    return values


def _rule_from_table(key: str, table: Any, source: str) -> _FieldRule:
    if not isinstance(table, dict):
        raise InvalidInput(f"{source}: [{key}] must be a table")
    allowed = table.get("allowed", [])
    pattern = table.get("pattern")
    max_count = table.get("max_count", 64)
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise InvalidInput(f"{source}: [{key}].allowed must be a list of strings")
    if not isinstance(max_count, int) or max_count < 1:
        raise InvalidInput(f"{source}: [{key}].max_count must be a positive integer")
    try:
        compiled = re.compile(pattern) if pattern is not None else None
    except (re.error, TypeError) as exc:
        raise InvalidInput(f"{source}: [{key}].pattern is not a valid regular expression") from exc
    return _FieldRule(allowed=tuple(allowed), pattern=compiled, max_count=max_count)


def load_vocabulary(path: Path | str | None = None) -> LabelVocabulary:
    """Read a vocabulary TOML file (the shipped default when ``path`` is None)."""
    src = Path(path) if path is not None else DEFAULT_VOCABULARY_PATH
    try:
        data = tomllib.loads(src.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read label vocabulary {src}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"label vocabulary {src} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(LABEL_KEYS))
    if unknown:
        raise InvalidInput(f"{src}: unknown label section(s): {', '.join(unknown)}")
    rules = {key: _rule_from_table(key, data.get(key, {}), str(src)) for key in LABEL_KEYS}
    return LabelVocabulary(rules=rules, source=str(src))


@functools.cache
def default_vocabulary() -> LabelVocabulary:
    """The shipped vocabulary, read once."""
    return load_vocabulary(None)


def parse_label_args(args: Iterable[str]) -> dict[str, Any]:
    """Turn CLI ``k=v`` strings into a label object (not yet validated).

    List labels (``behaviours``, ``tags``) take comma-separated values and may
    be repeated: ``--label tags=a,b --label tags=c`` gives ``["a", "b", "c"]``.
    """
    out: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"label {arg!r} is not of the form key=value")
        if key in _LIST_KEYS:
            out.setdefault(key, []).extend(v for v in value.split(",") if v.strip())
        elif key in out:
            raise InvalidInput(f"label {key} given twice")
        else:
            out[key] = value
    return out


def merge_labels(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Item labels over bank defaults: scalars replace, list labels are united."""
    merged: dict[str, Any] = dict(defaults)
    for key, value in own.items():
        if key in _LIST_KEYS and key in merged:
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        else:
            merged[key] = value
    return merged
