"""Lookups: matching signals against the banks a member may see, leaving out
disputed items when asked, naming banks as the member knows them, and running
the match hooks (review queueing, owner notification) after every lookup,
whoever asks (the API, the command line, a worker). Also the index lifecycle:
load, the PDQ snapshot and incremental refresh from the change log. Index
reads and writes are guarded by one lock, held only while the indexes change,
never while the database is read."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tahaluf.access import Capability, Principal
from tahaluf.errors import StorageError, TahalufError
from tahaluf.index.pdq_segment import MIN_TABLE_ROWS
from tahaluf.index.warmup import warm_up
from tahaluf.ports.banks import Repository
from tahaluf.ports.feedback import FeedbackRepository
from tahaluf.services.banks import BankService
from tahaluf.services.matching import Match, MatchEngine, MatchOptions
from tahaluf.services.scanning import ScanResult
from tahaluf.services.settings import SettingsService
from tahaluf.signals.base import Signal

__all__ = ["LookupService", "LookupEntry", "MatchHook"]

log = logging.getLogger("tahaluf.lookup")

#: called after a lookup with the caller and its results (matches name banks by stored key)
MatchHook = Callable[[Principal, Sequence[ScanResult]], None]


@dataclass(slots=True)
class LookupEntry:
    """One input to look up: the result to fill and the signals to match (none: the
    result's error is already set, or it has nothing to match)."""

    result: ScanResult
    signals: list[Signal]


class LookupService:
    """Match, filter, label; load and refresh the indexes of this worker."""

    def __init__(self, store: Repository, feedback: FeedbackRepository, banks: BankService,
                 settings: SettingsService, *, snapshot_dir: Path | None) -> None:
        self.store = store
        self.feedback = feedback
        self.banks = banks
        self.settings = settings
        #: where the PDQ snapshot of this database lives (None: no snapshot)
        self.snapshot_dir = snapshot_dir
        self.engine = MatchEngine(store)
        self.lock = threading.RLock()
        self.ready = False
        self.hooks: list[MatchHook] = []
        self._bank_changes_seen = 0

    # -- lifecycle ----------------------------------------------------------------
    def load(self) -> None:
        """Build the indexes (from the PDQ snapshot when there is one)."""
        snap = self.snapshot_dir
        warm_up()  # compile (or load the cached) index kernels before saying ready
        with self.lock:
            self.engine.load(snapshot_dir=snap)
        self.ready = True

    def prepare_snapshot(self) -> bool:
        """Bring the PDQ snapshot up to date (before workers start, so that they
        map one shared file instead of each building private tables)."""
        snap = self.snapshot_dir
        if snap is None:
            return False
        warm_up()  # compile the kernels once here, so that the workers find them cached
        self.engine.load(snapshot_dir=snap)
        saved = self.engine.save_snapshot_if_stale(snap, min_hashes=MIN_TABLE_ROWS)
        self.engine = MatchEngine(self.store)  # free the indexes
        return saved

    def refresh(self) -> int:
        """Apply the change log since the last refresh (incremental)."""
        applied = self.engine.refresh(lock=self.lock)
        if self.engine.bank_changes != self._bank_changes_seen:  # a bank made or changed elsewhere
            self._bank_changes_seen = self.engine.bank_changes
            self.banks.forget()
        return applied

    def require_ready(self) -> None:
        if not self.ready:
            raise StorageError("the hub is still loading its indexes; retry shortly (see /health/ready)")

    # -- matching -------------------------------------------------------------------
    def match(
        self,
        actor: Principal,
        inputs: Sequence[Sequence[Signal]],
        *,
        exclude_disputed: bool | None = None,
        opts: MatchOptions = MatchOptions(),
    ) -> list[list[Match]]:
        """Match each input's signals against the banks ``actor`` may see (banks named by
        stored key; no hooks: see :meth:`lookup`)."""
        actor.require(Capability.MATCH)
        with self.lock:
            found = self.engine.match_many(inputs, opts)
        if not any(found):
            return found
        visible = self.banks.visible_names(actor)
        if exclude_disputed is None:
            exclude_disputed = bool(self.settings.current()["lookup_exclude_disputed"])
        disputed: set[int] = set()
        if exclude_disputed:
            disputed = self.disputed_items({m.item_id for ms in found for m in ms})
        return [[m for m in ms if m.bank in visible and m.item_id not in disputed] for ms in found]

    def lookup(self, actor: Principal, entries: Sequence[LookupEntry], *,
               exclude_disputed: bool | None = None) -> list[ScanResult]:
        """A member's lookup: match the entries (those with an error stay unmatched), run
        the match hooks (review queueing, owner notification), then name each matched bank
        as ``actor`` knows it."""
        self.require_ready()
        found = self.match(actor, [e.signals for e in entries], exclude_disputed=exclude_disputed)
        out = []
        for entry, matches in zip(entries, found, strict=True):
            entry.result.matches = matches
            entry.result.signals = entry.signals
            out.append(entry.result)
        for hook in self.hooks:
            try:
                hook(actor, out)
            except TahalufError as exc:  # queueing a review must never fail the lookup itself
                log.warning("match hook %s failed: %s", getattr(hook, "__name__", hook), exc.message)
        for res in out:  # hooks store the banks' keys; the caller is shown its names for them
            res.matches = self.label_matches(actor, res.matches)
        return out

    def label_matches(self, actor: Principal, matches: Sequence[Match]) -> list[Match]:
        """``matches`` with each bank named as ``actor`` is shown it."""
        if not matches:
            return list(matches)
        labels = self.banks.labels(actor)
        return [m if labels.get(m.bank, m.bank) == m.bank else replace(m, bank=labels[m.bank]) for m in matches]

    def disputed_items(self, item_ids: set[int]) -> set[int]:
        return self.feedback.disputed_among(item_ids) if item_ids else set()
