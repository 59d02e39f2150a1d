"""Evidence: ``/v1/submissions/{id}/evidence`` (metadata, preview, original, hold, retention)
and ``/v1/evidence/purge``. Part of the review area (``TAHALUF_ROUTERS=reviews``).

Each route parses, calls one :class:`EvidenceService` operation and returns its
result (JSON through :mod:`tahaluf.wire.evidence`; a preview or the original as
bytes that are never cached, sniffed or shown inline).
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, principal, require
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services.evidence import EvidenceService
from tahaluf.services.hub import Hub
from tahaluf.wire.evidence import EvidenceOut, PurgeOut, evidence_out, purge_out

router = make_router("evidence")
_admin = require(Capability.ADMIN)

_SUB = Path(ge=1, le=2**62, description="submission id")
_REASON = Query(min_length=1, max_length=2000, pattern=r"\S",
                description="why you open it (kept in the audit log with who and when)")
_PRIVATE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Pragma": "no-cache",
            "Content-Security-Policy": "default-src 'none'; sandbox"}


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why (kept in the audit log)")


class RetentionIn(Strict):
    retain_until: datetime = Field(description="keep until (ISO 8601 with its UTC offset)")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why (kept in the audit log)")


class PurgeIn(Strict):
    dry_run: bool = Field(False, description="only say what would be removed")


@router.get("/submissions/{submission_id}/evidence", summary="A submission's evidence: hash, type, size, "
            "retention, hold", response_model=EvidenceOut)
def show_evidence(submission_id: Annotated[int, _SUB], who: Principal = Depends(principal),
                  hub: Hub = Depends(get_hub)) -> EvidenceOut:
    return evidence_out(EvidenceService(hub).show(who, submission_id))


@router.get("/submissions/{submission_id}/evidence/preview", response_class=Response,
            summary="A blurred, greyscale JPEG preview made on the server (audited: evidence.preview)",
            responses={200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the preview"}})
def preview_evidence(submission_id: Annotated[int, _SUB], reason: Annotated[str, _REASON],
                     who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> Response:
    got = EvidenceService(hub).preview(who, submission_id, reason)
    return Response(got.jpeg, media_type="image/jpeg", headers=_PRIVATE)


@router.get("/submissions/{submission_id}/evidence/original", response_class=Response,
            summary="The original bytes, as a download (audited: evidence.reveal)",
            responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the original, with its media type"}})
def original_evidence(submission_id: Annotated[int, _SUB], reason: Annotated[str, _REASON],
                      who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> Response:
    got = EvidenceService(hub).original(who, submission_id, reason)
    ext = mimetypes.guess_extension(got.media_type) or ".bin"
    name = f"submission-{submission_id}-{got.sha256[:12]}{ext}"
    return Response(got.data, media_type=got.media_type,
                    headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/submissions/{submission_id}/evidence/hold", response_model=EvidenceOut,
             summary="Put a submission's evidence on legal hold (admins; the purge leaves it)")
def hold_evidence(submission_id: Annotated[int, _SUB], body: ReasonIn, who: Principal = Depends(_admin),
                  hub: Hub = Depends(get_hub)) -> EvidenceOut:
    return evidence_out(EvidenceService(hub).hold(who, submission_id, body.reason))


@router.delete("/submissions/{submission_id}/evidence/hold", response_model=EvidenceOut,
               summary="Lift a legal hold (admins)")
def release_evidence(submission_id: Annotated[int, _SUB], reason: Annotated[str, _REASON],
                     who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> EvidenceOut:
    return evidence_out(EvidenceService(hub).release(who, submission_id, reason))


@router.put("/submissions/{submission_id}/evidence/retention", response_model=EvidenceOut,
            summary="Set how long a submission's evidence is kept (admins)")
def retain_evidence(submission_id: Annotated[int, _SUB], body: RetentionIn, who: Principal = Depends(_admin),
                    hub: Hub = Depends(get_hub)) -> EvidenceOut:
    return evidence_out(EvidenceService(hub).retain(who, submission_id, body.retain_until, body.reason))


@router.post("/evidence/purge", response_model=PurgeOut,
             summary="Remove evidence past its retention (not on hold) and unlinked blobs (admins)")
def purge_evidence(body: PurgeIn | None = None, who: Principal = Depends(_admin),
                   hub: Hub = Depends(get_hub)) -> PurgeOut:
    return purge_out(EvidenceService(hub).purge(who, dry_run=body.dry_run if body else False))
