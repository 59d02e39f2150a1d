"""Members and keys on the wire (``/v1/members...``, ``tahaluf member|key ... --json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tahaluf.access import Principal
from tahaluf.services.accounts import IssuedKey, KeyList, NewMember
from tahaluf.ports.accounts import KeyInfo
from tahaluf.ports.hub import MemberRecord

__all__ = [
    "MemberOut", "MemberWithKey", "MemberList", "KeyInfoOut", "NewKeyOut", "KeyListOut", "KeyOut", "RemovedOut",
    "Me", "Directory", "member_out", "new_member_out", "key_info_out", "issued_key_out", "key_list_out", "me_out",
]


class MemberOut(BaseModel):
    id: int
    name: str
    roles: list[str]
    enabled: bool
    created_at: str


class MemberWithKey(MemberOut):
    api_key: str = Field(description="shown once; only its hash is stored")


class MemberList(BaseModel):
    members: list[MemberOut]


class KeyInfoOut(BaseModel):
    id: int
    member: str
    prefix: str
    label: str | None
    roles: list[str]
    inherits_roles: bool
    created_at: str
    created_by: str | None
    last_used_at: str | None
    revoked_at: str | None


class NewKeyOut(KeyInfoOut):
    api_key: str = Field(description="shown once; only its hash is stored")


class KeyListOut(BaseModel):
    member: str
    keys: list[KeyInfoOut]


class KeyOut(BaseModel):
    name: str
    api_key: str


class RemovedOut(BaseModel):
    member: str
    roles: list[str]
    banks_transferred: list[str]
    transferred_to: str | None
    keys: int
    webhooks_deleted: int
    feedback_deleted: int
    submissions_kept: int
    review_tasks_kept: int


class Me(BaseModel):
    name: str
    roles: list[str]
    capabilities: list[str]


class Directory(BaseModel):
    members: list[str] = Field(description="every member's name (what bank sharing refers to)")


def member_out(member: MemberRecord) -> MemberOut:
    return MemberOut.model_validate(member.to_json())


def new_member_out(new: NewMember) -> MemberWithKey:
    return MemberWithKey.model_validate({**new.member.to_json(), "api_key": new.api_key})


def key_info_out(info: KeyInfo, member: MemberRecord) -> KeyInfoOut:
    return KeyInfoOut.model_validate(info.to_json(member))


def issued_key_out(issued: IssuedKey) -> NewKeyOut:
    return NewKeyOut.model_validate({**issued.info.to_json(issued.member), "api_key": issued.api_key})


def key_list_out(keys: KeyList) -> KeyListOut:
    return KeyListOut(member=keys.member.name, keys=[key_info_out(k, keys.member) for k in keys.keys])


def removed_out(details: dict[str, Any]) -> RemovedOut:
    return RemovedOut.model_validate(details)


def me_out(who: Principal) -> Me:
    return Me(name=who.name, roles=list(who.roles), capabilities=sorted(c.value for c in who.capabilities))
