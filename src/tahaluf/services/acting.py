"""Acting as a member outside the API: the principal a ``--as MEMBER`` option names.

The API resolves the principal from an API key; the command line, which
already holds the database, names the member. Either way the services get
the same :class:`~tahaluf.access.Principal` and apply the same rules.
"""

from __future__ import annotations

from tahaluf.access import Principal
from tahaluf.errors import NotFound, PermissionDenied
from tahaluf.services.hub import Hub

__all__ = ["member_principal"]


def member_principal(hub: Hub, name: str) -> Principal:
    """The enabled member ``name`` with all of its roles (NotFound, or PermissionDenied when disabled)."""
    member = hub.hubstore.get_member(name)
    if member is None:
        raise NotFound(f"no member {name!r} (see `tahaluf member list`)")
    if not member.enabled:
        raise PermissionDenied(f"member {name!r} is disabled")
    return Principal(member.id, member.name, tuple(member.roles))
