"""Wiring the application: the one place that knows both storage and the services.

:func:`open_hub` builds a :class:`Hub`: its services over one :class:`Ports`
bundle (:func:`sql_ports` on the store, or the ports given), including the match
hook every lookup runs (review queueing and owner notification), so the API,
the command line and workers behave alike.

:func:`sql_ports` bundles one implementation of every storage port on an open
SQL store (SQLite or PostgreSQL), :func:`memory_ports` on pure-Python in-memory
stores that share one state (for tests and trying things out). Services take
the ports they need from the :class:`Ports` the hub hands them; they never
import storage nor construct a store themselves (``tests/test_layers.py``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL

from tahaluf.config import HubConfig
from tahaluf.ports.bundle import Ports
from tahaluf.ports.clock import Clock, SystemClock
from tahaluf.ports.hub import SigningKey
from tahaluf.services.hub import Hub
from tahaluf.services.lookup import MatchHook
from tahaluf.services.reviews import ReviewService
from tahaluf.storage import open_store, resolve_url
from tahaluf.storage.audit_key import AuditKey
from tahaluf.storage.evidence_blobs import FileBlobStore, MemoryBlobStore, evidence_dir_for, evidence_key_path_for
from tahaluf.storage.evidence_keys import ENV_KEYS, FileKeyring
from tahaluf.storage.memory import MemoryRepository, MemoryState, MemoryUnitOfWork
from tahaluf.storage.memory.accounts import MemoryAccounts
from tahaluf.storage.memory.evidence import MemoryEvidence
from tahaluf.storage.memory.feedback import MemoryFeedback
from tahaluf.storage.memory.hub import MemoryHub
from tahaluf.storage.memory.reviews import MemoryReviews
from tahaluf.storage.memory.webhooks import MemoryWebhooks
from tahaluf.storage.repository.accounts_sql import AccountStore
from tahaluf.storage.repository.evidence_sql import EvidenceStore
from tahaluf.storage.repository.feedback_sql import FeedbackStore
from tahaluf.storage.repository.hub_sql import HubStore
from tahaluf.storage.repository.reviews_sql import ReviewStore
from tahaluf.storage.repository.sql import Store
from tahaluf.storage.repository.transactions_sql import SqlUnitOfWork
from tahaluf.storage.repository.webhooks_sql import WebhookStore

__all__ = ["Ports", "match_hooks", "memory_ports", "open_hub", "snapshot_dir_for", "sql_ports"]


def sql_ports(store: Store, *, key: AuditKey | None = None, clock: Clock | None = None,
              evidence_dir: str | None = None, evidence_key_file: str | None = None) -> Ports:
    """The ports on an open SQL store (``key``: the audit-signing key, default the hub's file;
    the evidence folder and key file: as configured, else beside the database, see
    :mod:`tahaluf.storage.evidence_blobs`)."""
    hubstore = HubStore(store, key)
    keyring = FileKeyring(evidence_key_path_for(store.url, evidence_key_file), os.environ.get(ENV_KEYS))
    return Ports(
        banks=store,
        hub=hubstore,
        feedback=FeedbackStore(hubstore),
        webhooks=WebhookStore(store),
        accounts=AccountStore(hubstore),
        reviews=ReviewStore(hubstore),
        uow=SqlUnitOfWork(hubstore),
        clock=clock if clock is not None else SystemClock(),
        evidence=EvidenceStore(store),
        blobs=FileBlobStore(evidence_dir_for(store.url, evidence_dir), keyring),
    )


def memory_ports(*, key: SigningKey | None = None, clock: Clock | None = None) -> Ports:
    """The ports on a fresh in-memory state (nothing persists)."""
    state = MemoryState(clock)
    hub = MemoryHub(state, key)
    banks = MemoryRepository(state)
    return Ports(
        banks=banks,
        hub=hub,
        feedback=MemoryFeedback(hub),
        webhooks=MemoryWebhooks(state),
        accounts=MemoryAccounts(hub),
        reviews=MemoryReviews(hub, banks),
        uow=MemoryUnitOfWork(state, hub.append_audit),
        clock=state.clock,
        evidence=MemoryEvidence(state),
        blobs=MemoryBlobStore(FileKeyring(None)),
    )


def match_hooks(hub: Hub) -> list[MatchHook]:
    """What runs after every lookup: queue strong matches for review, tell the
    matched banks' owners (the one place these are wired)."""
    return [ReviewService(hub).after_lookup]


def open_hub(config: HubConfig | None = None, store: Store | None = None, *, ports: Ports | None = None) -> Hub:
    """The hub over ``store`` (None: the database ``config.db`` names), services wired.

    ``ports`` instead of a store runs the hub on them (e.g. :func:`memory_ports`; no PDQ snapshot)."""
    config = config or HubConfig.from_env()
    snapshot_dir: Path | None = None
    if ports is None:
        store = store if store is not None else open_store(config.db)
        ports = sql_ports(store, evidence_dir=config.evidence_dir, evidence_key_file=config.evidence_key_file)
        snapshot_dir = snapshot_dir_for(store.url) if config.snapshot else None
    hub = Hub(config, ports, snapshot_dir=snapshot_dir)
    hub.lookup.hooks.extend(match_hooks(hub))
    return hub


def snapshot_dir_for(db_url: str | URL) -> Path:
    """Where the PDQ snapshot of a database lives: the user cache folder, one per database.

    The key is the URL without its password (masked or not, it names the same
    database), with tahaluf's drivers, so that the hub and the CLI share a snapshot.
    """
    url = resolve_url(db_url)
    canonical = URL.create(url.drivername, url.username, None, url.host, url.port, url.database,
                           url.query).render_as_string(hide_password=False)
    key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("tahaluf")) / "index" / key
