"""Who may do what: roles, capabilities and bank visibility (pure rules, no I/O).

A member is an organisation holding one or more roles:

=========  ==========================================================
role       capabilities
=========  ==========================================================
admin      everything, including members, keys, settings and the audit log
curator    read, hash/lookup, submit, curate (own banks and their items), feedback
reviewer   read, hash/lookup, submit, review (the queue), feedback
matcher    hash/lookup and submit only
viewer     read only (banks and items it can see, its own feed)
=========  ==========================================================

A bank is visible to its owner, to admins, to every member when its
visibility is ``all``, and to the listed members when it is ``members``.
Only its owner (with the curator role) and admins may change it; banks
without an owner belong to the hub operator (admins).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from tahaluf.errors import InvalidInput, PermissionDenied

__all__ = ["Capability", "ROLES", "ROLE_CAPABILITIES", "Principal", "check_roles"]


class Capability(StrEnum):
    READ = "read"
    MATCH = "match"  # hash and lookup
    SUBMIT = "submit"
    CURATE = "curate"
    REVIEW = "review"
    FEEDBACK = "feedback"
    ADMIN = "admin"


ROLES = ("admin", "curator", "reviewer", "matcher", "viewer")
_C = Capability
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": frozenset(Capability),
    "curator": frozenset({_C.READ, _C.MATCH, _C.SUBMIT, _C.CURATE, _C.FEEDBACK}),
    "reviewer": frozenset({_C.READ, _C.MATCH, _C.SUBMIT, _C.REVIEW, _C.FEEDBACK}),
    "matcher": frozenset({_C.MATCH, _C.SUBMIT}),
    "viewer": frozenset({_C.READ}),
}


def check_roles(roles: Collection[str]) -> list[str]:
    """Validate and normalise a role list (sorted, no duplicates)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise InvalidInput(f"unknown role {', '.join(unknown) or '(none)'}: choose from {', '.join(ROLES)}")
    return sorted(set(roles), key=ROLES.index)


@dataclass(frozen=True, slots=True)
class Principal:
    """The member a request acts for."""

    member_id: int
    name: str
    roles: tuple[str, ...]

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps: set[Capability] = set()
        for role in self.roles:
            caps |= ROLE_CAPABILITIES.get(role, frozenset())
        return frozenset(caps)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        if not self.can(capability):
            raise PermissionDenied(
                f"member {self.name!r} (roles: {', '.join(self.roles)}) may not {capability.value}"
            )

    def sees_bank(self, owner: str | None, visibility: str, shared_with: Collection[str]) -> bool:
        if self.is_admin or (owner is not None and owner == self.name):
            return True
        if visibility == "all":
            return True
        return visibility == "members" and self.name in shared_with

    def owns_bank(self, owner: str | None) -> bool:
        """May change the bank (with the curate capability): its owner, or an admin."""
        return self.is_admin or (owner is not None and owner == self.name)
