"""The coalition hub's core service: who is calling, what they may see, and
matching against the banks they may see. Interfaces (the HTTP API, the CLI)
call this; it never imports FastAPI or Typer.

* :class:`HubConfig` is the typed server configuration (``TAHALUF_*``
  environment variables), validated at start-up.
* :data:`SETTINGS` are the hub policies an admin changes at run time (stored
  in the database, so every worker sees them).
* :class:`Hub` holds the store, the match engine and a small key cache.
  Index upkeep (:meth:`Hub.refresh`) applies the change log incrementally;
  index reads and writes are guarded by one lock, held only while the
  indexes change, never while the database is read.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from tahaluf.access import Capability, Principal, check_org_name, check_roles
from tahaluf.audit import AuditRecord
from tahaluf.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tahaluf.labels import default_vocabulary, load_vocabulary
from tahaluf.services.matching import Match, MatchEngine, MatchOptions
from tahaluf.signals.base import Signal
from tahaluf.storage import BankRecord, Store, open_store
from tahaluf.ports.vocabulary import VISIBILITIES
from tahaluf.services.bank_names import (
    KEY_CHARS,
    QUALIFIER,
    bank_label,
    qualified_name,
    resolve_bank,
    short_name,
)
from tahaluf.storage.repository.hub_sql import HubStore, MemberRecord

__all__ = [
    "HubConfig",
    "Setting",
    "SETTINGS",
    "Hub",
    "BankView",
    "new_api_key",
    "hash_key",
]

KEY_PREFIX = "thf_"


def new_api_key() -> str:
    """A new API key: ``thf_`` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """How keys are stored: SHA-256 (keys are random, so no salt or stretching is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _env_number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise InvalidInput(f"{name}={raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Server configuration (environment variables ``TAHALUF_<FIELD>``, upper case)."""

    #: SQLAlchemy URL (None: the embedded SQLite default)
    db: str | None = None
    #: label vocabulary TOML file (None: the shipped default)
    labels: str | None = None
    #: largest request body accepted, in bytes (uploads included)
    max_request_bytes: int = 64 * 1024 * 1024
    #: most values in one batch lookup
    max_batch: int = 1000
    #: largest page a listing returns
    max_page: int = 1000
    #: requests per second allowed per API key, per worker process (0: no limit)
    rate_limit_per_s: float = 1000.0
    #: requests a key may burst above its rate
    rate_burst: int = 2000
    #: how long a worker trusts a cached key before asking the database again
    key_cache_s: float = 2.0
    #: how often each worker applies the change log to its indexes
    refresh_interval_s: float = 0.5
    #: load and save a PDQ index snapshot next to the database
    snapshot: bool = True
    #: seconds an uploaded video may take to decode, or a PDF to read, before the request fails (504)
    upload_timeout_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> HubConfig:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"TAHALUF_{f.name.upper()}"
            default = f.default
            if f.name in ("db", "labels"):
                values[f.name] = env.get(name) or None
            elif isinstance(default, bool):
                raw = env.get(name)
                values[f.name] = default if raw in (None, "") else raw.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                values[f.name] = int(_env_number(env, name, default, minimum=0))
            else:
                values[f.name] = _env_number(env, name, float(default), minimum=0)  # type: ignore[arg-type]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type
    #: bounds of a number (inclusive)
    minimum: float = 0
    maximum: float = float("inf")


#: hub policies an admin changes at run time (``GET/PUT /v1/settings``)
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("review_match_min_score", 0.8, "lookups whose best known-bank match scores at least this "
                "(0..1) become review tasks; 1.1 turns it off", float, 0.0, 1.1),
        Setting("review_claim_ttl_s", 900, "seconds a reviewer's claim lasts before the task returns to the queue "
                "(1 s to 30 days)", int, 1, 30 * 86400),
        Setting("review_two_person_rule", False, "confirming into a bank shared with other members needs two "
                "confirmations from two different members", bool),
        Setting("lookup_exclude_disputed", False, "leave disputed items out of lookups unless a request asks "
                "otherwise", bool),
        Setting("review_submission_reviewers", [], "members whose reviewers see and decide every member's "
                "submissions (their text and note); others see only their own member's, admins all", list),
    )
}


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        setting = SETTINGS.get(name)
        if setting is None:
            raise InvalidInput(f"unknown setting {name!r} (known: {', '.join(SETTINGS)})")
        ok = isinstance(value, setting.kind) and not (setting.kind is not bool and isinstance(value, bool))
        if setting.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = (float(value), True) if abs(value) < 2**53 else (value, False)
        if not ok:
            raise InvalidInput(f"setting {name!r} must be a {setting.kind.__name__}")
        if setting.kind is list and not (
            len(value) <= 1000 and all(isinstance(v, str) and 0 < len(v) <= 128 for v in value)
        ):
            raise InvalidInput(f"setting {name!r} must be a list of up to 1000 member names")
        if setting.kind in (int, float) and value < 0:
            raise InvalidInput(f"setting {name!r} must not be negative")
        if setting.kind in (int, float) and not setting.minimum <= value <= setting.maximum:  # NaN too
            raise InvalidInput(f"setting {name!r} must be between {setting.minimum:g} and {setting.maximum:g}")
        out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class BankView:
    """A bank as a member sees it (``label``: its name for that member)."""

    record: BankRecord
    shared_with: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        b = self.record
        out = {
            "name": self.label or b.name,
            "kind": b.kind,
            "owner": b.owner,
            "visibility": b.visibility,
            "shared_with": list(self.shared_with),
            "default_labels": b.default_labels,
            "signal_types": b.signal_types,
            "pdq_max_distance": b.pdq_max_distance,
            "created_at": b.created_at.isoformat(),
        }
        if self.counts:
            out["counts"] = self.counts
        return out


@dataclass(slots=True)
class _CachedKey:
    principal: Principal | None
    expires: float


class Hub:
    """One worker's view of the hub database."""

    def __init__(self, config: HubConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store if store is not None else open_store(config.db)
        self.hubstore = HubStore(self.store)
        self.engine = MatchEngine(self.store)
        self.vocabulary = load_vocabulary(config.labels) if config.labels else default_vocabulary()
        self.lock = threading.RLock()
        self.ready = False
        self._keys: dict[str, _CachedKey] = {}
        self._shares: dict[int, list[str]] = {}
        self._banks: list[BankRecord] = []
        self._shares_at = 0.0
        self._bank_changes_seen = 0
        self._settings: dict[str, Any] = {}
        self._settings_at = -1e9
        #: key id -> when this worker last saw it used, not yet written (see services/accounts.py)
        self.key_use: dict[int, Any] = {}

    # -- lifecycle ----------------------------------------------------------
    def load(self) -> None:
        """Build the indexes (from the PDQ snapshot when there is one)."""
        from tahaluf.services.matching import snapshot_dir_for

        from tahaluf.index.warmup import warm_up

        snap = snapshot_dir_for(self.store.url) if self.config.snapshot else None
        warm_up()  # compile (or load the cached) index kernels before saying ready
        with self.lock:
            self.engine.load(snapshot_dir=snap)
        self.ready = True

    def prepare_snapshot(self) -> bool:
        """Bring the PDQ snapshot up to date (before workers start, so that they
        map one shared file instead of each building private tables)."""
        from tahaluf.index.pdq_segment import MIN_TABLE_ROWS
        from tahaluf.services.matching import snapshot_dir_for

        if not self.config.snapshot:
            return False
        from tahaluf.index.warmup import warm_up

        warm_up()  # compile the kernels once here, so that the workers find them cached
        snap = snapshot_dir_for(self.store.url)
        self.engine.load(snapshot_dir=snap)
        saved = self.engine.save_snapshot_if_stale(snap, min_hashes=MIN_TABLE_ROWS)
        self.engine = MatchEngine(self.store)  # free the indexes
        return saved

    def refresh(self) -> int:
        """Apply the change log since the last refresh (incremental)."""
        applied = self.engine.refresh(lock=self.lock)
        if self.engine.bank_changes != self._bank_changes_seen:  # a bank made or changed elsewhere
            self._bank_changes_seen = self.engine.bank_changes
            self.forget_banks()
        self.flush_key_use()
        return applied

    def banks_by_name(self) -> dict[str, BankRecord]:
        """Every bank (cached like the share lists, refreshed when the change log names a bank)."""
        self._bank_shares()
        return {b.name: b for b in self._banks}

    def flush_key_use(self) -> None:
        """Write the keys' last use (from the refresh loop, so requests never wait on a write)."""
        if self.key_use:
            from tahaluf.services.accounts import flush_key_use

            flush_key_use(self)

    def close(self) -> None:
        try:
            self.flush_key_use()
        finally:
            self.store.close()

    # -- auth ---------------------------------------------------------------
    def authenticate(self, key: str | None) -> Principal | None:
        """The member holding ``key`` (None: missing, unknown, revoked or disabled)."""
        if not key:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._keys.get(digest)
        if hit is not None and hit.expires > now:
            return hit.principal
        from tahaluf.services.accounts import principal_for_key

        principal = principal_for_key(self, digest)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = _CachedKey(principal, now + self.config.key_cache_s)
        return principal

    def forget_keys(self) -> None:
        self._keys.clear()

    def forget_banks(self) -> None:
        """Read bank owners, visibility and shares again at the next use (after a change here)."""
        self._shares_at = 0.0

    def audit(self, actor: Principal | str, action: str, target: str, details: dict[str, Any] | None = None) -> AuditRecord:
        """Append an audit entry, in the transaction open in this thread (see :meth:`change`)."""
        who = actor.name if isinstance(actor, Principal) else actor
        return self.hubstore.append_audit(who, action, target, details or {})

    def change(self) -> Any:
        """One write transaction: ``with hub.change(): <change>; hub.audit(...)`` commits
        the change and its audit entry together, or neither (a crash between them
        leaves no unaudited change)."""
        return self.store.transaction()

    # -- settings -------------------------------------------------------------
    def settings(self, *, fresh: bool = False) -> dict[str, Any]:
        """The hub policies (cached for ``key_cache_s``; ``fresh`` reads the database)."""
        now = time.monotonic()
        if fresh or now - self._settings_at > self.config.key_cache_s:
            stored = self.hubstore.get_settings()
            self._settings = {name: stored.get(name, s.default) for name, s in SETTINGS.items()}
            self._settings_at = now
        return dict(self._settings)

    def update_settings(self, actor: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
        actor.require(Capability.ADMIN)
        clean = validate_settings(values)
        with self.change():
            self.hubstore.put_settings(clean)
            self.audit(actor, "settings.update", "settings", clean)
        return self.settings(fresh=True)

    # -- members ------------------------------------------------------------
    def add_member(self, actor: Principal | str, name: str, roles: Sequence[str]) -> tuple[MemberRecord, str]:
        """Create a member and its first key; returns the key (shown once, stored hashed)."""
        if isinstance(actor, Principal):
            actor.require(Capability.ADMIN)
        name = check_org_name(name)
        clean = check_roles(roles)
        key = new_api_key()
        with self.change():
            member = self.hubstore.add_member(name, clean, hash_key(key), key[:8])
            self.audit(actor, "member.add", f"member:{name}", {"roles": clean})
        return member, key

    def directory(self, actor: Principal) -> list[str]:
        """Every member's name: the coalition's roster, open to every member, so that naming
        a member to share a bank with (and being told there is no such member) reveals
        nothing the caller cannot see."""
        return [m.name for m in self.hubstore.list_members()]

    def member(self, name: str) -> MemberRecord:
        found = self.hubstore.get_member(name)
        if found is None:
            raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
        return found

    def set_member_enabled(self, actor: Principal | str, name: str, enabled: bool) -> MemberRecord:
        if isinstance(actor, Principal):
            actor.require(Capability.ADMIN)
        with self.change():
            member = self.hubstore.set_member_enabled(name, enabled)
            self.audit(actor, "member.enable" if enabled else "member.disable", f"member:{name}")
        self.forget_keys()
        return member

    def rotate_key(self, actor: Principal | str, name: str) -> str:
        """Revoke the member's keys and return a new one. A member rotating its own key
        (not as an admin) replaces only the key it called with, keeping its roles."""
        if isinstance(actor, Principal) and actor.name != name:
            actor.require(Capability.ADMIN)
        if isinstance(actor, Principal) and not actor.is_admin and actor.key_id is not None:
            from tahaluf.services.accounts import rotate_own_key

            return rotate_own_key(self, actor)
        member = self.member(name)
        key = new_api_key()
        with self.change():
            self.hubstore.rotate_key(member.id, hash_key(key), key[:8])
            self.audit(actor, "key.rotate", f"member:{name}", {"prefix": key[:8]})
        self.forget_keys()
        return key

    # -- banks --------------------------------------------------------------
    def _bank_shares(self) -> dict[int, list[str]]:
        now = time.monotonic()
        if now - self._shares_at > self.config.key_cache_s:
            self._shares_at = now  # before reading: an invalidation during the read (0.0) wins
            self._shares = self.hubstore.bank_shares()
            self._banks = self.store.list_banks()
        return self._shares

    def visible_banks(self, actor: Principal, *, cached: bool = False) -> list[BankView]:
        """The banks ``actor`` may see, each labelled with its name for ``actor``; ``cached``
        (the lookup path) uses the worker's bank list, refreshed every ``key_cache_s`` and
        whenever the change log names a bank, instead of reading the database."""
        shares = self._bank_shares()
        records = self._banks if cached else self.store.list_banks()
        seen = [b for b in records if actor.sees_bank(b.owner, b.visibility, shares.get(b.id, ()))]
        by_short: dict[str, list[BankRecord]] = {}
        for b in seen:
            by_short.setdefault(short_name(b.name), []).append(b)
        return [BankView(b, tuple(shares.get(b.id, ())), label=bank_label(actor, b, by_short[short_name(b.name)]))
                for b in seen]

    def visible_bank_names(self, actor: Principal) -> set[str]:
        """Stored keys (``BankRecord.name``, as matches carry them) of the banks ``actor`` sees."""
        return {v.record.name for v in self.visible_banks(actor, cached=True)}

    def bank_labels(self, actor: Principal) -> dict[str, str]:
        """Stored key -> the name ``actor`` is shown, for the banks it sees (cached list)."""
        return {v.record.name: v.label or v.record.name for v in self.visible_banks(actor, cached=True)}

    def bank(self, actor: Principal, name: str) -> BankView:
        """The bank ``name`` names for ``actor`` (see :func:`resolve_bank`); NotFound when it
        names no bank ``actor`` may see, exactly as for a name no bank has."""
        shares = self._bank_shares()
        seen = [b for b in self.store.list_banks() if actor.sees_bank(b.owner, b.visibility, shares.get(b.id, ()))]
        found = resolve_bank(actor, name, seen)
        if found is None:
            raise NotFound(f"no bank named {name!r}")
        return BankView(found, tuple(shares.get(found.id, ())), label=bank_label(actor, found, seen))

    def bank_for_change(self, actor: Principal, name: str) -> BankView:
        """The bank if ``actor`` may change it (curator owning it, or admin)."""
        actor.require(Capability.CURATE)
        view = self.bank(actor, name)
        if not actor.owns_bank(view.record.owner):
            raise PermissionDenied(f"bank {view.label or name!r} belongs to {view.record.owner or 'the hub operator'}; "
                                   "only its owner or an admin may change it")
        return view

    def create_bank(
        self,
        actor: Principal,
        name: str,
        kind: str = "known",
        labels: Mapping[str, Any] | None = None,
        *,
        visibility: str = "private",
        shared_with: Sequence[str] = (),
        signal_types: Sequence[str] | None = None,
        pdq_max_distance: int = 31,
        vocabulary: Any = None,
    ) -> BankView:
        """Create a bank owned by ``actor``: the bank, its owner, visibility, shares and
        audit entry are one transaction, so no one ever sees it otherwise.

        Names are scoped per owner: Conflict only when ``actor`` already owns a bank of
        that name. Another member's bank of the same name (visible or not) changes nothing
        in the answer; the new bank is then stored under the key ``owner:name``."""
        from dataclasses import replace

        from tahaluf.banks import new_bank

        actor.require(Capability.CURATE)
        _check_visibility(visibility)
        member_ids = self._member_ids(shared_with)
        spec = new_bank(name, kind, labels, signal_types=signal_types, pdq_max_distance=pdq_max_distance,
                        vocabulary=vocabulary, owner=actor.name, visibility=visibility)
        room = KEY_CHARS - len(actor.name) - len(QUALIFIER)
        if len(name) > room:  # whatever other banks exist: the answer must not depend on them
            raise InvalidInput(f"bank name too long: a bank of {actor.name!r} may have a name of at most "
                               f"{max(room, 0)} characters")
        with self.store.transaction() as conn:
            taken = self.hubstore.lock_bank_names(conn)
            if any(owner == actor.name and short_name(key) == name for key, owner in taken):
                raise Conflict(f"you already have a bank named {name!r}")
            if name in {key for key, _ in taken}:
                spec = replace(spec, name=f"{actor.name}{QUALIFIER}{name}")
            record = self.store.create_bank(spec, conn=conn)
            if member_ids:
                self.hubstore.set_bank_shares(record.id, member_ids, conn=conn)
            self.hubstore.append_audit(actor.name, "bank.create", f"bank:{record.name}",
                                       {"kind": kind, "visibility": visibility, "shared_with": sorted(shared_with)},
                                       conn=conn)
        self.forget_banks()
        return self.bank(actor, f"{actor.name}{QUALIFIER}{name}")

    def update_bank(
        self,
        actor: Principal,
        name: str,
        *,
        labels: Mapping[str, Any] | None = None,
        visibility: str | None = None,
        shared_with: Sequence[str] | None = None,
        pdq_max_distance: int | None = None,
        vocabulary: Any = None,
    ) -> BankView:
        from tahaluf.labels import default_vocabulary

        view = self.bank_for_change(actor, name)
        changes: dict[str, Any] = {}
        default_labels = None
        if labels is not None:
            default_labels = (vocabulary or default_vocabulary()).validate(labels)
            changes["default_labels"] = default_labels
        if visibility is not None:
            _check_visibility(visibility)
            changes["visibility"] = visibility
        if pdq_max_distance is not None:
            if not 0 <= pdq_max_distance <= 256:
                raise InvalidInput("pdq_max_distance must be between 0 and 256")
            changes["pdq_max_distance"] = pdq_max_distance
        member_ids = self._member_ids(shared_with) if shared_with is not None else None
        with self.change():
            self.store.update_bank(view.record.id, default_labels=default_labels, visibility=visibility,
                                   pdq_max_distance=pdq_max_distance)
            if member_ids is not None and shared_with is not None:
                self.hubstore.set_bank_shares(view.record.id, member_ids)
                changes["shared_with"] = sorted(shared_with)
            self.audit(actor, "bank.update", f"bank:{view.record.name}", changes)
        self.forget_banks()
        return self.bank(actor, qualified_name(view.record))

    def delete_bank(self, actor: Principal, name: str) -> None:
        view = self.bank_for_change(actor, name)
        with self.change():
            self.store.delete_bank(view.record.id)
            self.audit(actor, "bank.delete", f"bank:{view.record.name}")
        self.forget_banks()

    def _member_ids(self, names: Sequence[str]) -> list[int]:
        ids = []
        for n in names:
            member = self.hubstore.get_member(n)
            if member is None:
                raise InvalidInput(f"cannot share with {n!r}: no such member (see GET /v1/directory)")
            ids.append(member.id)
        return ids

    # -- matching -------------------------------------------------------------
    def match(
        self,
        actor: Principal,
        inputs: Sequence[Sequence[Signal]],
        *,
        exclude_disputed: bool | None = None,
        opts: MatchOptions = MatchOptions(),
    ) -> list[list[Match]]:
        """Match each input's signals against the banks ``actor`` may see."""
        actor.require(Capability.MATCH)
        with self.lock:
            found = self.engine.match_many(inputs, opts)
        if not any(found):
            return found
        visible = self.visible_bank_names(actor)
        if exclude_disputed is None:
            exclude_disputed = bool(self.settings()["lookup_exclude_disputed"])
        disputed: set[int] = set()
        if exclude_disputed:
            disputed = self.disputed_items({m.item_id for ms in found for m in ms})
        return [[m for m in ms if m.bank in visible and m.item_id not in disputed] for ms in found]

    def label_matches(self, actor: Principal, matches: Sequence[Match]) -> list[Match]:
        """``matches`` with each bank named as ``actor`` is shown it (see :meth:`bank_labels`)."""
        from dataclasses import replace

        if not matches:
            return list(matches)
        labels = self.bank_labels(actor)
        return [m if labels.get(m.bank, m.bank) == m.bank else replace(m, bank=labels[m.bank]) for m in matches]

    def disputed_items(self, item_ids: set[int]) -> set[int]:
        from tahaluf.storage.repository.feedback_sql import disputed_among

        return disputed_among(self.store, item_ids) if item_ids else set()


def _check_visibility(visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")

