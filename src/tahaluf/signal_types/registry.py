"""The registered signal types: the one list every part of tahaluf reads.

The built-in types register themselves when :mod:`tahaluf.signal_types` is
imported (one module each, found by name); a plugin or a test registers its
own with :func:`register` and removes it with :func:`unregister`. Lookups
accept a type's name or any of its aliases (python-threatexchange and HMA
names such as ``photo_md5``).
"""

from __future__ import annotations

from collections.abc import Sequence

from tahaluf.errors import InvalidInput
from tahaluf.signal_types.base import SignalType

__all__ = ["register", "unregister", "registered", "names", "get", "lookup", "find", "type_enabled",
           "exact_names", "for_content", "version",
           "check_name", "lookup_names"]

_TYPES: dict[str, SignalType] = {}
_ALIASES: dict[str, str] = {}
#: bumped on every change, so callers can cache what they derive
_version = 0


def register(signal_type: SignalType) -> SignalType:
    """Add a signal type; ValueError if its name or an alias is taken by another type."""
    global _version
    name = signal_type.name
    for key in (name, *signal_type.aliases):
        owner = key if key in _TYPES else _ALIASES.get(key)
        if owner is not None and owner != name:
            raise ValueError(f"signal type name {key!r} is taken by {owner!r}")
    if name in _TYPES and _TYPES[name] is not signal_type:
        raise ValueError(f"signal type {name!r} is already registered")
    _TYPES[name] = signal_type
    for alias in signal_type.aliases:
        _ALIASES[alias] = name
    _version += 1
    return signal_type


def unregister(name: str) -> None:
    """Remove a signal type (and its aliases); nothing if it is not registered."""
    global _version
    found = _TYPES.pop(name, None)
    if found is not None:
        for alias in found.aliases:
            _ALIASES.pop(alias, None)
        _version += 1


def registered() -> list[SignalType]:
    """Every registered type, in listing order."""
    return sorted(_TYPES.values(), key=lambda t: (t.order, t.name))


def names() -> tuple[str, ...]:
    """The names of the registered types, in listing order."""
    return tuple(t.name for t in registered())


def exact_names() -> tuple[str, ...]:
    """The names of the exact-matching types."""
    return tuple(t.name for t in registered() if t.matching == "exact")


def for_content(kind: str) -> list[SignalType]:
    """The types computed from content of ``kind``, in listing order."""
    return [t for t in registered() if kind in t.content_kinds]


def find(name: str) -> SignalType | None:
    """The type named ``name`` (or with that alias), or None."""
    found = _TYPES.get(name)
    if found is None and name in _ALIASES:
        found = _TYPES.get(_ALIASES[name])
    return found


def get(name: str) -> SignalType:
    """The type named ``name`` exactly (aliases are for imports: see :func:`lookup`);
    InvalidInput naming the known types otherwise."""
    found = _TYPES.get(name) if isinstance(name, str) else None
    if found is None:
        shown = repr(name) if len(repr(name)) <= 40 else repr(name)[:37] + "..."
        raise InvalidInput(f"unknown signal type {shown} (known: {', '.join(names())})")
    return found


def lookup(name: str) -> SignalType:
    """:func:`get` that also accepts aliases (``photo_md5`` is md5)."""
    found = find(name) if isinstance(name, str) else None
    return found if found is not None else get(name)


def check_name(name: str) -> str:
    """``name`` if a type is registered under it (aliases excluded); ValueError otherwise,
    for request validators."""
    if name not in _TYPES:
        raise ValueError(f"unknown signal type {name!r} (known: {', '.join(names())})")
    return name


def lookup_names() -> tuple[str, ...]:
    """The types whose values can be looked up one a line (``tahaluf lookup --type``)."""
    return tuple(t.name for t in registered() if t.looked_up_by_line)


def type_enabled(signal_type: str, enabled: Sequence[str]) -> bool:
    """True if a bank whose ``signal_types`` are ``enabled`` matches signals of ``signal_type``
    (``url_md5`` comes with ``url``: see :attr:`SignalType.enabled_with`)."""
    if signal_type in enabled:
        return True
    found = _TYPES.get(signal_type)
    return found is not None and found.enabled_with is not None and found.enabled_with in enabled


def version() -> int:
    """A number that changes whenever a type is registered or removed."""
    return _version
