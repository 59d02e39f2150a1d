"""Admin: members and keys, hub settings, the audit log (``/v1/members``,
``/v1/settings``, ``/v1/audit``), and ``/v1/me`` and ``/v1/directory`` for every member.
Every answer is a validated :mod:`tahaluf.wire` model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query
from pydantic import Field

from tahaluf.access import ORG_NAME_PATTERN, ROLES, Capability, Principal
from tahaluf.api.deps import get_hub, principal, require
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services.accounts import MAX_LABEL
from tahaluf.services.hub import Hub
from tahaluf.wire.accounts import (Directory, KeyInfoOut, KeyListOut, KeyOut, Me, MemberList, MemberOut, MemberWithKey,
                                   NewKeyOut, RemovedOut, issued_key_out, key_info_out, key_list_out, me_out,
                                   member_out, new_member_out, removed_out)
from tahaluf.wire.audit import (AuditOut, AuditVerifyOut, PublicKeyOut, SignedHeadOut, audit_out, public_key_out,
                                signed_out, verify_out)
from tahaluf.wire.settings import SettingsOut, settings_out

router = make_router("admin")
_admin = require(Capability.ADMIN)


#: the roles of tahaluf.access.ROLES, spelled out for the OpenAPI schema
Role = Literal["admin", "curator", "reviewer", "matcher", "viewer"]


class MemberIn(Strict):
    name: str = Field(min_length=1, max_length=63, pattern=ORG_NAME_PATTERN,
                      description="lower-case letters, digits, '.', '_', '-'; starting with a letter or digit")
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES), description=f"any of {', '.join(ROLES)}")


class RolesIn(Strict):
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES), description=f"any of {', '.join(ROLES)}")


class KeyIn(Strict):
    roles: list[Role] | None = Field(None, min_length=1, max_length=len(ROLES),
                                     description="a subset of the member's roles (omitted: all of them, "
                                                 "following role changes)")
    label: str | None = Field(None, min_length=1, max_length=MAX_LABEL, description="what the key is for")


class SettingsIn(Strict):
    settings: dict[str, Any] = Field(min_length=1)


@router.get("/me", summary="The calling member and what it may do", response_model=Me,
            response_model_exclude_unset=True)
async def me(who: Principal = Depends(principal)) -> Me:
    return me_out(who)


@router.get("/directory", summary="The names of every member (for sharing banks)", response_model=Directory,
            response_model_exclude_unset=True)
async def directory(who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> Directory:
    return Directory(members=hub.accounts.directory(who))


@router.get("/members", summary="Every member", response_model=MemberList, response_model_exclude_unset=True)
async def list_members(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> MemberList:
    return MemberList(members=[member_out(m) for m in hub.accounts.list_members(who)])


@router.post("/members", summary="Add a member; returns its API key once", status_code=201,
             response_model=MemberWithKey, response_model_exclude_unset=True)
async def add_member(body: MemberIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> MemberWithKey:
    return new_member_out(hub.accounts.add_member(who, body.name, body.roles))


@router.post("/members/{name}/disable", summary="Disable a member (its keys stop working)",
             response_model=MemberOut, response_model_exclude_unset=True)
async def disable_member(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> MemberOut:
    return member_out(hub.accounts.set_enabled(who, name, False))


@router.post("/members/{name}/enable", summary="Enable a member again", response_model=MemberOut,
             response_model_exclude_unset=True)
async def enable_member(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> MemberOut:
    return member_out(hub.accounts.set_enabled(who, name, True))


@router.post("/members/{name}/key", summary="Rotate a member's key (admins, or the member itself)",
             response_model=KeyOut, response_model_exclude_unset=True)
async def rotate_key(name: str, who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> KeyOut:
    return KeyOut(name=name, api_key=hub.accounts.rotate_key(who, name))


@router.put("/members/{name}/roles", summary="Change a member's roles", response_model=MemberOut,
            response_model_exclude_unset=True)
def set_roles(name: str, body: RolesIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)
              ) -> MemberOut:
    return member_out(hub.accounts.set_roles(who, name, body.roles))


@router.delete("/members/{name}", summary="Remove a member (refused while it owns banks)",
               response_model=RemovedOut, response_model_exclude_unset=True)
def remove_member(
    name: str,
    transfer_banks_to: Annotated[str | None, Query(min_length=1, max_length=128,
                                                   description="member to give its banks to")] = None,
    who: Principal = Depends(_admin), hub: Hub = Depends(get_hub),
) -> RemovedOut:
    return removed_out(hub.accounts.remove(who, name, transfer_banks_to=transfer_banks_to))


@router.get("/members/{name}/keys", summary="A member's keys (prefixes only)", response_model=KeyListOut,
            response_model_exclude_unset=True)
def list_keys(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> KeyListOut:
    return key_list_out(hub.accounts.list_keys(who, name))


@router.post("/members/{name}/keys", summary="Give a member another key; returns it once", status_code=201,
             response_model=NewKeyOut, response_model_exclude_unset=True)
def add_key(name: str, body: KeyIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> NewKeyOut:
    return issued_key_out(hub.accounts.add_key(who, name, body.roles, body.label))


@router.post("/members/{name}/keys/{key}/revoke", summary="Revoke one key (by id or prefix)",
             response_model=KeyInfoOut, response_model_exclude_unset=True)
def revoke_key(name: str, key: Annotated[str, Path(min_length=1, max_length=64)], who: Principal = Depends(_admin),
               hub: Hub = Depends(get_hub)) -> KeyInfoOut:
    member, info = hub.accounts.revoke_key(who, name, key)
    return key_info_out(info, member)


@router.get("/settings", summary="Hub policies", response_model=SettingsOut, response_model_exclude_unset=True)
async def get_settings(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> SettingsOut:
    return settings_out(hub.settings.show(who))


@router.put("/settings", summary="Change hub policies", response_model=SettingsOut, response_model_exclude_unset=True)
async def put_settings(body: SettingsIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> SettingsOut:
    return settings_out(hub.settings.update(who, body.settings))


@router.get("/audit", summary="Audit log entries in order", response_model=AuditOut, response_model_exclude_unset=True)
async def audit(
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="page size (at most the hub's max_page)")] = 100,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    who: Principal = Depends(_admin),
    hub: Hub = Depends(get_hub),
) -> AuditOut:
    return audit_out(hub.audit.entries(who, after=after, limit=min(limit, hub.config.max_page), actor_name=actor,
                                       action=action))


@router.get("/audit/verify", summary="Check the audit chain", response_model=AuditVerifyOut,
            response_model_exclude_unset=True)
async def audit_verify(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> AuditVerifyOut:
    return verify_out(hub.audit.verify(who))


@router.post("/audit/sign", summary="Sign the audit chain's current head with the hub's key",
             response_model=SignedHeadOut, response_model_exclude_unset=True)
def audit_sign(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> SignedHeadOut:
    return signed_out(hub.audit.sign(who))


@router.get("/audit/public-key", summary="The hub's audit public key (for auditors)", response_model=PublicKeyOut,
            response_model_exclude_unset=True)
def audit_public_key(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> PublicKeyOut:
    return public_key_out(hub.audit.public_key(who))
