"""Building the application: :func:`open_hub` wires a :class:`Hub`'s services over
one store, including the match hooks every lookup runs (review queueing and
owner notification), so the API, the command line and workers behave alike."""

from __future__ import annotations

from tahaluf.config import HubConfig
from tahaluf.services.hub import Hub
from tahaluf.services.lookup import MatchHook
from tahaluf.services.reviews import ReviewService
from tahaluf.storage import Store

__all__ = ["open_hub", "match_hooks"]


def match_hooks(hub: Hub) -> list[MatchHook]:
    """What runs after every lookup: queue strong matches for review, tell the
    matched banks' owners (the one place these are wired)."""
    return [ReviewService(hub).after_lookup]


def open_hub(config: HubConfig | None = None, store: Store | None = None) -> Hub:
    """The hub over ``store`` (None: the database ``config.db`` names), services wired."""
    hub = Hub(config or HubConfig.from_env(), store)
    hub.lookup.hooks.extend(match_hooks(hub))
    return hub
