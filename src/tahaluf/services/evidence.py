"""The evidence store as a service: keep a submission's media, show it to those
entitled (audited), hold it, purge it, and manage its keys.

* :func:`keep` stores an upload's bytes sealed under their SHA-256 and links
  them to the submission, in the submission's own transaction.
* :class:`EvidenceService` — ``show`` (metadata), ``preview`` (a blurred,
  greyscale JPEG made here: ``evidence.preview``) and ``original`` (the
  bytes: ``evidence.reveal``), each view audited with its reason before it is
  returned; ``hold``/``release``/``retain`` (admins); ``purge``; ``rekey``
  and the keyring.

Who may open a submission's evidence: its submitting member, admins, and the
reviewers the ``review_submission_reviewers`` setting designates (the review
queue's rule, :mod:`tahaluf.services.submission_access`); anyone else is told
there is no such evidence, exactly as for a submission that does not exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tahaluf.access import Capability, Principal
from tahaluf.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tahaluf.ports.evidence import EvidenceRecord, KeyringInfo, NewEvidence
from tahaluf.ports.transactions import AuditNote
from tahaluf.services.evidence_media import media_type, preview
from tahaluf.services.hub import Hub
from tahaluf.services.submission_access import may_see_submission

__all__ = ["EvidenceService", "EvidenceUpload", "Original", "Preview", "PurgeReport", "RekeyReport", "keep"]

#: a blob file no row names is debris of a crash once it is this old
ORPHAN_AGE_S = 3600.0


@dataclass(frozen=True, slots=True)
class EvidenceUpload:
    """An upload's bytes to keep as evidence."""

    data: bytes = field(repr=False)
    filename: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Preview:
    submission_id: int
    sha256: str
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Original:
    submission_id: int
    sha256: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    dry_run: bool
    submissions: list[int]  # whose evidence was (or would be) purged
    blobs: list[str]  # blobs deleted (dry run: that would be, when no other link holds them)
    orphans: list[str]  # blob files no row names, swept


@dataclass(frozen=True, slots=True)
class RekeyReport:
    key_id: str
    rekeyed: int
    missing: list[str]


def keep(hub: Hub, who: Principal, submission_id: int, upload: EvidenceUpload) -> None:
    """Seal and link an upload to its submission: call inside the submission's ``uow.change()``."""
    ports = hub.ports
    ports.evidence.lock()
    sha = upload.sha256
    known = ports.evidence.blob(sha)
    if known is not None and ports.blobs.has(sha):
        key_id = known.key_id
    else:
        key_id = ports.blobs.put(sha, upload.data)
    days = int(hub.settings.current()["evidence_retention_days"])
    retain_until = ports.clock.now() + timedelta(days=days)
    kind = known.media_type if known is not None else media_type(upload.data[:65536])
    if ports.evidence.link(submission_id, NewEvidence(sha, len(upload.data), kind, key_id), retain_until):
        hub.audit.append(who, "evidence.keep", f"submission:{submission_id}",
                         {"sha256": sha, "size": len(upload.data), "media_type": kind,
                          "retain_until": retain_until.isoformat()})


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("say why: a reason is required")
    if len(text) > 2000:
        raise InvalidInput("the reason is over 2000 characters")
    return text


def _actor(actor: Principal | str) -> str:
    return actor.name if isinstance(actor, Principal) else actor


def _admin(actor: Principal | str) -> None:
    if isinstance(actor, Principal):
        actor.require(Capability.ADMIN)


class EvidenceService:
    """The evidence of one hub's submissions."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.ports = hub.ports
        self.evidence = hub.ports.evidence
        self.blobs = hub.ports.blobs

    # -- reading ------------------------------------------------------------------
    def _visible(self, who: Principal | str, submission_id: int) -> EvidenceRecord:
        """The evidence if ``who`` may open it; NotFound otherwise (existence is not revealed)."""
        missing = NotFound(f"no evidence for submission {submission_id}")
        if isinstance(who, Principal):
            if not (who.can(Capability.SUBMIT) or who.can(Capability.REVIEW)):
                raise PermissionDenied(f"member {who.name!r} (roles: {', '.join(who.roles)}) may not open evidence")
            sub = self.ports.reviews.get_submissions([submission_id]).get(submission_id)
            if sub is None or not may_see_submission(self.hub, who, sub):
                raise missing
            if sub.member_id != who.member_id and not who.is_admin and not who.can(Capability.REVIEW):
                raise missing
        found = self.evidence.get(submission_id)
        if found is None:
            raise missing
        return found

    def show(self, who: Principal | str, submission_id: int) -> EvidenceRecord:
        """A submission's evidence: sha256, media type, size, retention, hold (not audited: no content)."""
        return self._visible(who, submission_id)

    def _live(self, who: Principal | str, submission_id: int) -> EvidenceRecord:
        found = self._visible(who, submission_id)
        if found.purged_at is not None:
            raise NotFound(f"the evidence of submission {submission_id} was purged on {found.purged_at.isoformat()}")
        return found

    def _audit_view(self, who: Principal | str, action: str, found: EvidenceRecord, reason: str) -> None:
        with self.ports.uow.change() as change:
            change.audit(AuditNote(_actor(who), action, f"submission:{found.submission_id}",
                                   {"sha256": found.sha256, "reason": reason}))

    def preview(self, who: Principal | str, submission_id: int, reason: str | None) -> Preview:
        """A blurred, greyscale preview made on the server; audited as ``evidence.preview``."""
        why = _reason(reason)
        found = self._live(who, submission_id)
        jpeg = preview(self.blobs.get(found.sha256), found.media_type, timeout_s=self.hub.config.upload_timeout_s)
        self._audit_view(who, "evidence.preview", found, why)
        return Preview(submission_id, found.sha256, jpeg)

    def original(self, who: Principal | str, submission_id: int, reason: str | None) -> Original:
        """The original bytes (an explicit reveal); audited as ``evidence.reveal``."""
        why = _reason(reason)
        found = self._live(who, submission_id)
        data = self.blobs.get(found.sha256)
        self._audit_view(who, "evidence.reveal", found, why)
        return Original(submission_id, found.sha256, found.media_type, data)

    # -- holds and retention (admins) ---------------------------------------------------
    def hold(self, who: Principal | str, submission_id: int, reason: str | None) -> EvidenceRecord:
        """Put a submission's evidence on legal hold: the purge leaves it until released."""
        return self._set_hold(who, submission_id, True, reason)

    def release(self, who: Principal | str, submission_id: int, reason: str | None) -> EvidenceRecord:
        """Lift a legal hold (the evidence is purged once past its retention)."""
        return self._set_hold(who, submission_id, False, reason)

    def _set_hold(self, who: Principal | str, submission_id: int, hold: bool, reason: str | None) -> EvidenceRecord:
        _admin(who)
        why = _reason(reason)
        found = self._visible(who, submission_id)
        if found.purged_at is not None:
            raise Conflict(f"the evidence of submission {submission_id} was purged already")
        at = self.ports.clock.now()
        with self.ports.uow.change() as change:
            self.evidence.set_hold(submission_id, hold, why if hold else None, _actor(who) if hold else None, at)
            change.audit(AuditNote(_actor(who), "evidence.hold" if hold else "evidence.release",
                                   f"submission:{submission_id}", {"sha256": found.sha256, "reason": why}))
        return self._visible(who, submission_id)

    def retain(self, who: Principal | str, submission_id: int, until: datetime, reason: str | None
               ) -> EvidenceRecord:
        """Set a submission's own retention (admins): kept until ``until``."""
        _admin(who)
        why = _reason(reason)
        if until.tzinfo is None:
            raise InvalidInput("give the time with its UTC offset (e.g. 2027-01-31T00:00:00+00:00)")
        found = self._visible(who, submission_id)
        with self.ports.uow.change() as change:
            self.evidence.set_retention(submission_id, until)
            change.audit(AuditNote(_actor(who), "evidence.retain", f"submission:{submission_id}",
                                   {"sha256": found.sha256, "retain_until": until.isoformat(), "reason": why}))
        return self._visible(who, submission_id)

    # -- purge ----------------------------------------------------------------------------
    def purge(self, who: Principal | str, *, dry_run: bool = False, orphan_age_s: float = ORPHAN_AGE_S,
              limit: int = 100_000) -> PurgeReport:
        """Remove the evidence of submissions past retention and not on hold; delete blobs no
        submission links any more; sweep blob files no row names (older than ``orphan_age_s``).
        Every run is audited as ``evidence.purge`` (a dry run changes and records nothing)."""
        _admin(who)
        at = self.ports.clock.now()
        if dry_run:
            expired = self.evidence.expired(at, limit)
            old = self.blobs.older_than(orphan_age_s)
            orphans = sorted(set(old) - self.evidence.known(old))
            return PurgeReport(True, [e.submission_id for e in expired], sorted({e.sha256 for e in expired}),
                               orphans)
        # the rows go first, with their audit entry; the files only after that commit, under
        # the lock and only while still unnamed (content submitted again meanwhile keeps its
        # file): a crash in between leaves files no row names, which a later run sweeps
        with self.ports.uow.change() as change:
            self.evidence.lock()
            expired = self.evidence.expired(at, limit)
            gone = self.evidence.mark_purged([e.submission_id for e in expired], at)
            old = self.blobs.older_than(orphan_age_s)
            orphans = sorted(set(old) - self.evidence.known(old) - set(gone))
            # every run, even one that found nothing: the log shows that retention is enforced
            change.audit(AuditNote(_actor(who), "evidence.purge", "evidence", {
                "submissions": [e.submission_id for e in expired], "blobs": gone, "orphans": orphans}))
        with self.ports.uow.change():
            self.evidence.lock()
            named = self.evidence.known([*gone, *orphans])
            for sha in [*gone, *orphans]:
                if sha not in named:
                    self.blobs.delete(sha)
        return PurgeReport(False, [e.submission_id for e in expired], gone, orphans)

    # -- keys ------------------------------------------------------------------------------
    def keys(self, who: Principal | str) -> tuple[KeyringInfo, dict[str, int]]:
        """The keyring (ids only) and how many blobs each key seals."""
        _admin(who)
        return self.blobs.keyring.info(), self.evidence.keys_in_use()

    def rotate_key(self, who: Principal | str) -> KeyringInfo:
        """A new current key (new blobs use it; ``rekey`` moves the old ones)."""
        _admin(who)
        info = self.blobs.keyring.rotate()
        self.hub.audit.append(who, "evidence.key_rotate", "evidence", {"current": info.current})
        return info

    def remove_key(self, who: Principal | str, key_id: str) -> KeyringInfo:
        """Forget an old key once no blob is sealed with it."""
        _admin(who)
        if key_id == self.blobs.keyring.info().current:
            raise InvalidInput(f"key {key_id!r} is the current key; rotate first")
        count = self.evidence.keys_in_use().get(key_id, 0)
        if count:
            raise Conflict(f"{count} evidence blob(s) are still sealed with key {key_id!r}: "
                           "run `tahaluf evidence rekey` first")
        info = self.blobs.keyring.remove(key_id)
        self.hub.audit.append(who, "evidence.key_remove", "evidence", {"key": key_id})
        return info

    def rekey(self, who: Principal | str, *, batch: int = 100) -> RekeyReport:
        """Re-encrypt every blob sealed with an older key under the current one (one blob per
        transaction; each file replaced atomically, so an interrupted run is simply run again)."""
        _admin(who)
        current = self.blobs.keyring.info().current
        done, missing, after = 0, [], ""
        while rows := self.evidence.blobs_not_under(current, after=after, limit=batch):
            for row in rows:
                after = row.sha256
                with self.ports.uow.change():
                    self.evidence.lock()
                    if not self.blobs.has(row.sha256):
                        missing.append(row.sha256)
                        continue
                    self.evidence.set_key(row.sha256, self.blobs.reseal(row.sha256))
                done += 1
        self.hub.audit.append(who, "evidence.rekey", "evidence", {"key": current, "rekeyed": done,
                                                                   "missing": missing})
        return RekeyReport(current, done, missing)
