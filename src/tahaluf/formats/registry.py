"""The bank file formats, found in this package: every module of
:mod:`tahaluf.formats` holding a :class:`~tahaluf.formats.base.BankFormat` as
``FORMAT`` is one (adding a format is one new module and its test).
:func:`register` adds one from elsewhere (a plugin, a test)."""

from __future__ import annotations

import importlib
import pkgutil

from tahaluf.errors import InvalidInput
from tahaluf.formats.base import BankFormat

__all__ = ["get", "names", "register", "registered", "unregister"]

_PACKAGE = __name__.rsplit(".", 1)[0]
_NOT_FORMATS = {"base", "registry"}
_formats: dict[str, BankFormat] = {}
_discovered = False


def _discover() -> dict[str, BankFormat]:
    global _discovered
    if not _discovered:
        package = importlib.import_module(_PACKAGE)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name in _NOT_FORMATS or module.name.startswith("_"):
                continue
            found = getattr(importlib.import_module(f"{_PACKAGE}.{module.name}"), "FORMAT", None)
            if isinstance(found, BankFormat):
                _formats.setdefault(found.name, found)
        _discovered = True
    return _formats


def register(fmt: BankFormat) -> BankFormat:
    """Add ``fmt``; ValueError if another format has its name."""
    known = _discover()
    if known.get(fmt.name, fmt) is not fmt:
        raise ValueError(f"a bank format named {fmt.name!r} is already registered")
    known[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    """Remove the format ``name`` (nothing if there is none)."""
    _discover().pop(name, None)


def registered() -> list[BankFormat]:
    """Every format, by name."""
    known = _discover()
    return [known[name] for name in sorted(known)]


def names() -> list[str]:
    """The names of every format, sorted."""
    return sorted(_discover())


def get(name: str) -> BankFormat:
    """The format ``name``; InvalidInput naming the known ones otherwise."""
    found = _discover().get(name.lower())
    if found is None:
        raise InvalidInput(f"unknown format {name[:40]!r} (expected one of: {', '.join(names())})")
    return found
