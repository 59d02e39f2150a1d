"""What a signal type declares, and the index every type gives the match engine.

A :class:`SignalType` is one kind of fingerprint (md5, PDQ, text, ...): its
name and aliases, exact or near matching, the content it is computed from,
how a value is checked, canonicalised and parsed, its index and how a match
is scored. Everything else (hashing, banks, the match engine, formats, the
API and CLI type lists, metrics) looks types up in
:mod:`tahaluf.signal_types.registry` instead of naming them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from tahaluf.errors import InvalidInput
from tahaluf.index.exact import ExactIndex
from tahaluf.signal_types.content import Content
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_lower_hex

__all__ = ["SLOTS_PER_ITEM", "MatchOptions", "Hit", "MatchContext", "TypeIndex", "ExactTypeIndex", "SignalType",
           "Warn", "StoredSignals"]

#: an item may carry several signals of one type (a photo's PDQ and the PDQ of its
#: standard crops): the k-th gets the index id ``item_id * 16 + k`` (k < 16)
SLOTS_PER_ITEM = 16

#: told about a stored value an index could not load: (item id, type, why)
Warn = Callable[[int, str, InvalidInput], None]


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Thresholds for one match run (defaults follow the industry's)."""

    #: override every bank's PDQ threshold (None: each bank's own, default 31)
    pdq_max_distance: int | None = None
    text_min_similarity: float = 0.4
    text_min_containment: float = 0.5
    vpdq_max_distance: int = 31
    vpdq_query_match_pct: float = 80.0
    vpdq_index_match_pct: float = 0.0


@dataclass(slots=True)
class Hit:
    """One bank item an index found for one query signal, before bank checks."""

    item_id: int
    signal_type: str
    distance: int | None = None
    similarity: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What a query needs besides the signals: the options and each bank's PDQ threshold."""

    opts: MatchOptions
    bank_pdq: dict[str, int]


class StoredSignals(Protocol):
    """The part of the repository an index loads from."""

    def iter_signals(self, signal_type: str) -> Iterable[Sequence[Any]]: ...


class TypeIndex(ABC):
    """The in-memory index of one signal type's bank values, kept by the match engine."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, rows: Sequence[tuple[int, int, str]], warn: Warn) -> None:
        """Index ``(item id, k, value)`` rows: the k-th stored value of this type on an item
        (k < :data:`SLOTS_PER_ITEM`). A malformed value is passed to ``warn`` and skipped."""

    @abstractmethod
    def remove(self, item_ids: Sequence[int]) -> None:
        """Forget every value of these items (sorted ids)."""

    @abstractmethod
    def query(self, signals: Sequence[Signal], ctx: MatchContext) -> list[list[Hit]]:
        """The hits of each query signal (one list per signal, in order)."""

    def load(self, repo: Any, warn: Warn) -> None:
        """Index every enabled stored value of this type (``repo`` is a Repository)."""
        slots: dict[int, int] = defaultdict(int)
        for batch in repo.iter_signals(self.name):
            rows = []
            for rec in batch:
                k = slots[rec.item_id]
                if k < SLOTS_PER_ITEM:
                    slots[rec.item_id] = k + 1
                    rows.append((rec.item_id, k, rec.value))
            self.add(rows, warn)


class ExactTypeIndex(TypeIndex):
    """Values that match only when equal (digests, URL hashes): :class:`ExactIndex` per type."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.index = ExactIndex()

    def __len__(self) -> int:
        return len(self.index)

    def add(self, rows: Sequence[tuple[int, int, str]], warn: Warn) -> None:
        for item_id, _k, value in rows:
            self.index.add(item_id, value)

    def load(self, repo: Any, warn: Warn) -> None:
        for batch in repo.iter_signals(self.name):  # every value: exact types have no slots
            for rec in batch:
                self.index.add(rec.item_id, rec.value)

    def remove(self, item_ids: Sequence[int]) -> None:
        for item_id in item_ids:
            self.index.remove(item_id)

    def query(self, signals: Sequence[Signal], ctx: MatchContext) -> list[list[Hit]]:
        return [[Hit(i, self.name, distance=0) for i in self.index.query(sig.value)] for sig in signals]


class SignalType:
    """One signal type. Subclass, set the class attributes, override what differs, and
    register an instance (:func:`tahaluf.signal_types.registry.register`)."""

    #: the type's name, as stored and shown
    name: ClassVar[str]
    #: other names read on import (python-threatexchange / HMA names)
    aliases: ClassVar[tuple[str, ...]] = ()
    #: ``exact``: a match is an equal value; ``near``: within a distance or above a similarity
    matching: ClassVar[Literal["exact", "near"]] = "exact"
    #: content this type is computed from: ``file`` (the bytes of any file), ``photo``,
    #: ``video``, ``pdf``, ``text`` (a text file), ``post`` (an inline text), ``url``
    content_kinds: ClassVar[tuple[str, ...]] = ()
    #: listing order (types, hash output and bank defaults follow it)
    order: ClassVar[int] = 100
    #: on equal scores, the signal named as a match's evidence: lowest first
    evidence_rank: ClassVar[int] = 50
    #: a bank whose ``signal_types`` name this type also takes signals of this type
    enabled_with: ClassVar[str | None] = None
    #: values are this many hex digits (stored lower-case); None: not a digest
    hex_digits: ClassVar[int | None] = None
    #: values are compared case-sensitively when looked up (not lower-cased)
    case_sensitive: ClassVar[bool] = False
    #: the type's default match threshold (distance bits or similarity), None for exact types
    default_threshold: ClassVar[float | None] = None
    #: a matched input's signal of this type is stored with its scan result (the HTML
    #: report shows its evidence: the bits of a PDQ hash, the frames of a video)
    kept_for_reports: ClassVar[bool] = False
    #: a value fits on one line of ``tahaluf lookup`` (not vPDQ's frame lists)
    looked_up_by_line: ClassVar[bool] = True
    #: what a value looks like, for help texts
    value_help: ClassVar[str] = "the signal value"

    def canonical(self, value: str, extra: dict[str, Any] | None) -> tuple[str, bytes | None]:
        """The value as stored, and its raw bytes for a binary column (PDQ); InvalidInput if bad.
        The caller has checked that ``value`` is text every database stores."""
        if self.hex_digits is None:
            return value, None
        clean = value.strip().lower()
        if not is_lower_hex(clean, self.hex_digits):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InvalidInput(f"invalid {self.name} value {shown}: expected {self.hex_digits} hex digits")
        return clean, None

    def convert(self, value: str) -> Signal | None:
        """Content typed in place of a value (a URL, a post) as this type's signal;
        None when ``value`` is meant as a signal value already."""
        return None

    def lookup_signal(self, value: str) -> Signal:
        """The signal to match for a value a user looked up."""
        converted = self.convert(value)
        if converted is not None:
            return converted
        return Signal(self.name, value if self.case_sensitive else value.lower())

    def compute(self, content: Content) -> list[Signal]:
        """This type's signals of ``content`` (one of :attr:`content_kinds`)."""
        return []

    def new_index(self) -> TypeIndex:
        """An empty index for this type's bank values (exact types: a value lookup)."""
        if self.matching != "exact":
            raise NotImplementedError(f"{self.name}: a near-matching type needs its own index")
        return ExactTypeIndex(self.name)

    def score(self, distance: int | None, similarity: float | None) -> float:
        """Strength of a match in [0, 1] (exact: 1; near types: from distance or similarity)."""
        return float(similarity) if similarity is not None else 1.0

    def within_bank_limit(self, hit: Hit, bank_threshold: int, opts: MatchOptions) -> bool:
        """Whether a hit counts for a bank with this threshold (PDQ: its own distance)."""
        return True
