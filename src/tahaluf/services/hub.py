"""The coalition hub: a small container wiring the hub's services over one
store. Interfaces (the HTTP API, the CLI, workers) get one from
:func:`tahaluf.bootstrap.open_hub` and call its services; none of them
imports FastAPI or Typer.

* ``hub.settings`` (:mod:`tahaluf.services.settings`): run-time hub policies.
* ``hub.audit`` (:mod:`tahaluf.services.audit`): append, verify, sign.
* ``hub.banks`` (:mod:`tahaluf.services.banks`): bank CRUD, sharing, visibility.
* ``hub.accounts`` (:mod:`tahaluf.services.accounts`): members, keys, authenticate.
* ``hub.lookup`` (:mod:`tahaluf.services.lookup`): matching, its hooks, the indexes.
* ``hub.curation`` (:mod:`tahaluf.services.curation`): a bank's items.
"""

from __future__ import annotations

from pathlib import Path

from tahaluf.config import HubConfig
from tahaluf.labels import default_vocabulary, load_vocabulary
from tahaluf.ports.bundle import Ports
from tahaluf.services.accounts import AccountService, hash_key, new_api_key
from tahaluf.services.audit import AuditService
from tahaluf.services.banks import BankService, BankView
from tahaluf.services.curation import CurationService
from tahaluf.services.lookup import LookupService
from tahaluf.services.settings import SETTINGS, Setting, SettingsService

__all__ = ["Hub", "HubConfig", "BankView", "Setting", "SETTINGS", "new_api_key", "hash_key"]


class Hub:
    """One worker's view of the hub database: its services, wired together.
    Build one with :func:`tahaluf.bootstrap.open_hub` (which also wires the match hooks)."""

    def __init__(self, config: HubConfig, ports: Ports, *, snapshot_dir: Path | None = None) -> None:
        self.config = config
        self.ports = ports
        #: the bank repository and the hub repository (members, shares, settings, audit)
        self.store = ports.banks
        self.hubstore = ports.hub
        self.vocabulary = load_vocabulary(config.labels) if config.labels else default_vocabulary()
        self.audit = AuditService(ports.hub, ports.banks)
        self.settings = SettingsService(ports.hub, self.audit, config.key_cache_s)
        self.banks = BankService(ports.banks, ports.hub, ports.accounts, self.audit, self.vocabulary,
                                 config.key_cache_s)
        self.accounts = AccountService(ports.hub, ports.accounts, self.audit, self.banks, config.key_cache_s)
        self.lookup = LookupService(ports.banks, ports.feedback, self.banks, self.settings,
                                    snapshot_dir=snapshot_dir)
        self.curation = CurationService(self.store, self.banks, self.audit, self.lookup, self.vocabulary,
                                        config.max_page)

    # -- lifecycle ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.lookup.ready

    def load(self) -> None:
        """Build the indexes (see :meth:`LookupService.load`)."""
        self.lookup.load()

    def prepare_snapshot(self) -> bool:
        return self.lookup.prepare_snapshot()

    def refresh(self) -> int:
        """Apply the change log to the indexes and write the keys' last use (the refresh loop)."""
        applied = self.lookup.refresh()
        self.accounts.flush_key_use()
        return applied

    def close(self) -> None:
        try:
            self.accounts.flush_key_use()
        finally:
            self.store.close()
