"""Who may do what: roles, capabilities and bank visibility (pure rules, no I/O).

A member is an organisation holding one or more roles. It acts through API
keys, each with its own roles (a subset of the organisation's): a request acts
for the key's organisation with the key's roles.

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

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

from tahaluf.errors import InvalidInput, PermissionDenied

__all__ = [
    "Capability", "ROLES", "ROLE_CAPABILITIES", "ORG_NAME_PATTERN", "Principal", "check_roles", "check_org_name",
    "key_roles",
]


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


#: an organisation's (member's) name: lower-case letters, digits, ``.``, ``_``, ``-``;
#: 1 to 63 characters, starting with a letter or digit (no ``/``, no spaces, no leading dot)
ORG_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_ORG_NAME = re.compile(ORG_NAME_PATTERN)


def check_org_name(name: str) -> str:
    """The name if it is a valid organisation name, else InvalidInput saying what is allowed."""
    if not isinstance(name, str) or not _ORG_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid organisation name {name!r}: use 1-63 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no spaces)"
        )
    return name


def key_roles(member_roles: Collection[str], own: Collection[str] | None) -> tuple[str, ...]:
    """The roles a key acts with: its own roles within its organisation's (None: all of them)."""
    allowed = [r for r in ROLES if r in member_roles]
    return tuple(allowed if own is None else [r for r in allowed if r in own])


@dataclass(frozen=True, slots=True)
class Principal:
    """The member (organisation) a request acts for, with the roles of the key it used."""

    member_id: int
    name: str
    roles: tuple[str, ...]
    #: the API key used (None: a principal made in-process); not part of equality:
    #: two keys of one organisation with the same roles act as the same principal
    key_id: int | None = field(default=None, compare=False)

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
