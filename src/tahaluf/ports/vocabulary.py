"""The words services and storage share: statuses, visibilities, roles, opinions.

Services take these from here, never from the ORM modules; the SQL models and
stores import them too, so there is one definition of each.
"""

from __future__ import annotations

from tahaluf.access import ROLES

__all__ = [
    "EXACT_TYPES", "CHANGE_OPS", "VISIBILITIES", "ROLES", "OPINIONS", "NEGATIVE_OPINIONS",
    "TASK_STATUSES", "OPEN_STATUSES", "DECISIONS", "DELIVERY_STATUSES",
]

#: signal types looked up by exact value (storage keeps a partial index on these)
EXACT_TYPES = ("md5", "sha256", "url", "url_md5")
#: ops recorded in the change log; an entry without an item means the whole bank
CHANGE_OPS = ("add", "update", "disable", "enable", "delete")
#: who may see a bank besides its owner: nobody, listed members, every member
VISIBILITIES = ("private", "members", "all")
#: a member's opinion of a matched bank item
OPINIONS = ("agree", "disagree", "false_positive")
NEGATIVE_OPINIONS = ("disagree", "false_positive")
#: every status a review task can have; the first three are "open" (still in the queue)
TASK_STATUSES = ("pending", "pending_second", "escalated", "confirmed", "rejected")
OPEN_STATUSES = ("pending", "pending_second", "escalated")
DECISIONS = ("confirm", "reject", "escalate")
#: ``pending`` (waiting for its next attempt), ``delivered`` (a 2xx answer), ``failed`` (gave up)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
