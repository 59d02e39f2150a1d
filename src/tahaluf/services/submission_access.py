"""Who may see a member's submission: the one rule the review queue and the evidence store share."""

from __future__ import annotations

from tahaluf.access import Principal
from tahaluf.ports.reviews import SubmissionRecord
from tahaluf.services.hub import Hub

__all__ = ["may_see_submission", "submissions_seen_of"]


def submissions_seen_of(hub: Hub, who: Principal) -> int | None:
    """Whose submissions ``who`` may see: None for everyone's (admins and the members the
    ``review_submission_reviewers`` setting designates), else its own member id."""
    if who.is_admin or who.name in hub.settings.current()["review_submission_reviewers"]:
        return None
    return who.member_id


def may_see_submission(hub: Hub, who: Principal, sub: SubmissionRecord) -> bool:
    only = submissions_seen_of(hub, who)
    return only is None or sub.member_id == only
