"""The bundle of ports a hub's services run on (one implementation of each)."""

from __future__ import annotations

from dataclasses import dataclass

from tahaluf.ports.accounts import AccountRepository
from tahaluf.ports.banks import Repository
from tahaluf.ports.clock import Clock
from tahaluf.ports.evidence import BlobStore, EvidenceRepository
from tahaluf.ports.feedback import FeedbackRepository
from tahaluf.ports.hub import HubRepository
from tahaluf.ports.reviews import ReviewRepository
from tahaluf.ports.transactions import UnitOfWork
from tahaluf.ports.webhooks import WebhookRepository

__all__ = ["Ports"]


@dataclass(frozen=True, slots=True)
class Ports:
    """The storage a hub's services run on (all on one database, sharing its transactions).

    :mod:`tahaluf.bootstrap` builds one on SQL (``sql_ports``) or in memory (``memory_ports``).
    """

    banks: Repository
    hub: HubRepository
    feedback: FeedbackRepository
    webhooks: WebhookRepository
    accounts: AccountRepository
    reviews: ReviewRepository
    uow: UnitOfWork
    clock: Clock
    evidence: EvidenceRepository
    blobs: BlobStore
