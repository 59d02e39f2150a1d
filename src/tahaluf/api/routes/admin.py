"""Admin: members and keys, hub settings, the audit log (``/v1/members``,
``/v1/settings``, ``/v1/audit``), and ``/v1/me`` and ``/v1/directory`` for every member."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tahaluf.access import ORG_NAME_PATTERN, ROLES, Capability, Principal
from tahaluf.api.deps import get_hub, principal, require
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services.accounts import MAX_LABEL
from tahaluf.services.hub import Hub

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


class KeyList(BaseModel):
    member: str
    keys: list[KeyInfoOut]


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


class KeyOut(BaseModel):
    name: str
    api_key: str


class Me(BaseModel):
    name: str
    roles: list[str]
    capabilities: list[str]


class SettingsOut(BaseModel):
    settings: dict[str, Any]
    help: dict[str, str]


class SettingsIn(Strict):
    settings: dict[str, Any] = Field(min_length=1)


class AuditOut(BaseModel):
    entries: list[dict[str, Any]]
    next_after: int | None = None


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    head: str | None
    #: signed heads whose signature (by the hub's key) and entry check out
    signed_heads: int
    #: entry id of the last of them
    last_signed: int | None
    problems: list[str]


@router.get("/me", summary="The calling member and what it may do", response_model=Me)
async def me(who: Principal = Depends(principal)) -> JSONResponse:
    return JSONResponse({"name": who.name, "roles": list(who.roles),
                         "capabilities": sorted(c.value for c in who.capabilities)})


class Directory(BaseModel):
    members: list[str] = Field(description="every member's name (what bank sharing refers to)")


@router.get("/directory", summary="The names of every member (for sharing banks)", response_model=Directory)
async def directory(who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse({"members": hub.accounts.directory(who)})


@router.get("/members", summary="Every member", response_model=MemberList)
async def list_members(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse({"members": [m.to_json() for m in hub.accounts.list_members(who)]})


@router.post("/members", summary="Add a member; returns its API key once", status_code=201,
             response_model=MemberWithKey)
async def add_member(body: MemberIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    member, key = hub.accounts.add_member(who, body.name, body.roles)
    return JSONResponse({**member.to_json(), "api_key": key}, status_code=201)


@router.post("/members/{name}/disable", summary="Disable a member (its keys stop working)",
             response_model=MemberOut)
async def disable_member(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse(hub.accounts.set_enabled(who, name, False).to_json())


@router.post("/members/{name}/enable", summary="Enable a member again", response_model=MemberOut)
async def enable_member(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse(hub.accounts.set_enabled(who, name, True).to_json())


@router.post("/members/{name}/key", summary="Rotate a member's key (admins, or the member itself)",
             response_model=KeyOut)
async def rotate_key(name: str, who: Principal = Depends(principal), hub: Hub = Depends(get_hub)) -> JSONResponse:
    key = hub.accounts.rotate_key(who, name)
    return JSONResponse({"name": name, "api_key": key})


@router.put("/members/{name}/roles", summary="Change a member's roles", response_model=MemberOut)
def set_roles(name: str, body: RolesIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)
              ) -> JSONResponse:
    return JSONResponse(hub.accounts.set_roles(who, name, body.roles).to_json())


@router.delete("/members/{name}", summary="Remove a member (refused while it owns banks)",
               response_model=RemovedOut)
def remove_member(
    name: str,
    transfer_banks_to: Annotated[str | None, Query(min_length=1, max_length=128,
                                                   description="member to give its banks to")] = None,
    who: Principal = Depends(_admin), hub: Hub = Depends(get_hub),
) -> JSONResponse:
    return JSONResponse(hub.accounts.remove(who, name, transfer_banks_to=transfer_banks_to))


@router.get("/members/{name}/keys", summary="A member's keys (prefixes only)", response_model=KeyList)
def list_keys(name: str, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    member, keys = hub.accounts.list_keys(who, name)
    return JSONResponse({"member": member.name, "keys": [k.to_json(member) for k in keys]})


@router.post("/members/{name}/keys", summary="Give a member another key; returns it once", status_code=201,
             response_model=NewKeyOut)
def add_key(name: str, body: KeyIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    member, info, key = hub.accounts.add_key(who, name, body.roles, body.label)
    return JSONResponse({**info.to_json(member), "api_key": key}, status_code=201)


@router.post("/members/{name}/keys/{key}/revoke", summary="Revoke one key (by id or prefix)",
             response_model=KeyInfoOut)
def revoke_key(name: str, key: Annotated[str, Path(min_length=1, max_length=64)], who: Principal = Depends(_admin),
               hub: Hub = Depends(get_hub)) -> JSONResponse:
    member, info = hub.accounts.revoke_key(who, name, key)
    return JSONResponse(info.to_json(member))


@router.get("/settings", summary="Hub policies", response_model=SettingsOut)
async def get_settings(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    view = hub.settings.show(who)
    return JSONResponse({"settings": view.values, "help": view.help})


@router.put("/settings", summary="Change hub policies", response_model=SettingsOut)
async def put_settings(body: SettingsIn, who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    view = hub.settings.update(who, body.settings)
    return JSONResponse({"settings": view.values, "help": view.help})


@router.get("/audit", summary="Audit log entries in order", response_model=AuditOut)
async def audit(
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="page size (at most the hub's max_page)")] = 100,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    who: Principal = Depends(_admin),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    page = hub.audit.entries(who, after=after, limit=min(limit, hub.config.max_page), actor_name=actor,
                             action=action)
    return JSONResponse({"entries": [e.to_json() for e in page.entries], "next_after": page.next_after})


@router.get("/audit/verify", summary="Check the audit chain", response_model=AuditVerifyOut)
async def audit_verify(who: Principal = Depends(_admin), hub: Hub = Depends(get_hub)) -> JSONResponse:
    check = hub.audit.verify(who)
    head = check.last.hash if check.last else None
    return JSONResponse({"ok": not check.problems, "entries": check.entries, "head": head,
                         "signed_heads": check.signed_heads, "last_signed": check.last_signed,
                         "problems": check.problems[:100]})
