"""Signal types: one module per type, each defining ``SIGNAL_TYPE``, registered on import.

Every module of this package other than :mod:`~tahaluf.signal_types.base`,
:mod:`~tahaluf.signal_types.content` and :mod:`~tahaluf.signal_types.registry`
is a signal type: adding ``signal_types/<name>.py`` with a ``SIGNAL_TYPE`` is
all it takes to register one (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
import pkgutil

from tahaluf.signal_types import registry
from tahaluf.signal_types.base import MatchOptions, SignalType
from tahaluf.signal_types.content import Content, HashOptions

__all__ = ["registry", "SignalType", "MatchOptions", "Content", "HashOptions"]

_NOT_TYPES = frozenset({"base", "content", "registry"})

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _NOT_TYPES:
        registry.register(importlib.import_module(f"{__name__}.{_module}").SIGNAL_TYPE)
