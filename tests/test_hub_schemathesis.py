"""schemathesis against the hub's live OpenAPI: every registered operation, as an
admin, with schema-valid and schema-violating requests. No request may get a
5xx, and every answer must match what the spec declares (status code, content
type, body schema); every error is ``{"error": {"code", "message"}}``.

Operations run one after another on one fresh SQLite hub holding a small bank;
anything a DELETE (or a disable) removed is put back before the next
operation. Generation is derandomised, so a run is repeatable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from neutral_posts import POST_EN
from tahaluf.access import Principal
from tahaluf.api.app import create_app
from tahaluf.banks import NewItem, add_items
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.signals.base import Signal
from tahaluf.signals.text import text_signal

BANK = "demo-bank"
VICTIM = "victim-org"
#: a name no generated path parameter will hit: the admin's key must survive the run
ADMIN = "admin-7f3a9c2e41d8"
ITEMS = [
    NewItem("item-1", [Signal("md5", "0123456789abcdef0123456789abcdef")], {"tier": "promotional"}),
    NewItem("item-2", [Signal("pdq", "f" * 32 + "0" * 32)]),
    NewItem("item-3", [text_signal(POST_EN)]),
]
#: examples per operation: schema-valid ones (twice when the fixture's names apply) and schema-violating ones;
#: with ~45 operations the run takes 20-30 s on 2 idle cores
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 15}


@schemathesis.check
def error_body_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is ``{"error": {"code", "message"}}`` with string values."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.content[:200]!r}") from None
    ok = (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)
          and set(body["error"]) == {"code", "message"}
          and all(isinstance(v, str) and v for v in body["error"].values()))
    if not ok:
        raise AssertionError(f"{response.status_code} error body has the wrong shape: {body!r}"[:500])
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          error_body_shape]


def _restore(hub: Hub, admin: Principal) -> None:
    """Put back the bank (owned by the admin), its items and the enabled victim with a
    live key, whatever the last operation did."""
    if hub.store.get_bank(BANK) is None:
        hub.banks.create(admin, BANK, labels={"entity": "demo-entity"}, visibility="all")
    bank = hub.store.get_bank(BANK)
    if bank is not None and bank.owner != ADMIN:  # a transfer moved it away
        hub.banks.transfer("cli:test", BANK, ADMIN)
    add_items(hub.store, BANK, ITEMS, added_by=ADMIN)  # those still there are skipped as duplicates
    victim = hub.hubstore.get_member(VICTIM)
    if victim is None:
        hub.accounts.add_member("cli:test", VICTIM, ["viewer"])
    elif not victim.enabled:
        hub.accounts.set_enabled("cli:test", VICTIM, True)
    victim = hub.accounts.member(VICTIM)
    if all(k.revoked_at is not None for k in hub.hubstore.keys_of(victim.id)):
        hub.accounts.rotate_key("cli:test", VICTIM)


def _fixed(path: str, hub: Hub) -> dict[str, str] | None:
    """Path parameters naming the fixture's objects, so valid requests reach them."""
    if path.startswith("/v1/banks/{name}"):
        return {"name": BANK, "external_id": "item-1"}
    if path.startswith("/v1/members/{name}"):
        live = [k.id for k in hub.hubstore.keys_of(hub.accounts.member(VICTIM).id) if k.revoked_at is None]
        return {"name": VICTIM, "key": str(live[-1])}
    return None


def _run(op: Any, mode: GenerationMode, path_parameters: dict[str, str] | None, key: str) -> set[int]:
    """Run one operation's examples; the statuses it got."""
    strategy = op.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    statuses: set[int] = set()

    @given(case=strategy)
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
        statuses.add(response.status_code)

    run()
    return statuses


def _variants(op: Any, hub: Hub) -> list[tuple[str, GenerationMode, dict[str, str] | None]]:
    out = [("generated", GenerationMode.POSITIVE, None)]
    fixed = _fixed(op.path, hub)
    if fixed is not None:
        out.append(("on the fixture", GenerationMode.POSITIVE, {k: v for k, v in fixed.items()
                                                                if "{" + k in op.path}))
    out.append(("schema-violating", GenerationMode.NEGATIVE, None))
    return out


def _hub(tmp_path: Path) -> tuple[Hub, Principal, str]:
    # no rate limit: hundreds of requests from one key in a few seconds are the point here
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, refresh_interval_s=0.05,
                        rate_limit_per_s=0, max_request_bytes=2 * 1024 * 1024))
    member, key = hub.accounts.add_member("cli:test", ADMIN, ["admin"])
    hub.accounts.add_member("cli:test", VICTIM, ["viewer"])
    hub.accounts.add_member("cli:test", "ngo-b", ["curator"])  # the spec's example of a bank transfer's receiver
    admin = Principal(member.id, member.name, tuple(member.roles))
    _restore(hub, admin)
    hub.load()
    return hub, admin, key


def test_every_operation_conforms_to_the_spec(tmp_path: Path) -> None:
    hub, admin, key = _hub(tmp_path)
    app = create_app(hub.config, hub=hub)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    ran: list[str] = []
    seen: dict[str, set[int]] = {}
    try:
        for result in schema.get_all_operations():
            op = result.ok()
            _restore(hub, admin)
            for name, mode, fixed in _variants(op, hub):
                _restore(hub, admin)
                try:
                    seen[f"{op.label} ({name})"] = _run(op, mode, fixed, key)
                except hypothesis.errors.Unsatisfiable:
                    if mode is not GenerationMode.NEGATIVE:  # nothing to violate in an operation without input
                        failures.append(f"{op.label} ({name}): no request could be generated")
                except (Exception, BaseExceptionGroup) as exc:  # report every operation, not the first only
                    failures.append(f"{op.label} ({name}):\n{exc}")
                ran.append(f"{op.label} ({name})")
    finally:
        shutdown_lifespans()
        hub.close()
    assert not failures, f"{len(failures)} of {len(ran)} runs failed:\n\n" + "\n\n".join(failures)
    assert len(ran) > 60, ran
    # the runs on the fixture's bank, item and member reached them (not only 404s)
    unreached = [run for run, statuses in seen.items() if "fixture" in run and not any(s < 300 for s in statuses)]
    assert not unreached, unreached


def test_the_spec_declares_the_error_shape_on_every_v1_operation(tmp_path: Path) -> None:
    """Clients (and the run above) learn the error body and statuses from the spec."""
    hub, _, _ = _hub(tmp_path)
    spec = create_app(hub.config, hub=hub, load=False).openapi()
    hub.close()
    missing: list[str] = []
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "422", "429"):
                content = op["responses"].get(status, {}).get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") != "#/components/schemas/ErrorBody":
                    missing.append(f"{method.upper()} {path} {status}")
    assert not missing


def test_docs_api_names_every_operation_and_limit(tmp_path: Path) -> None:
    """docs/api.md lists every operation of the live spec and every HubConfig variable."""
    from dataclasses import fields

    hub, _, _ = _hub(tmp_path)
    spec = create_app(hub.config, hub=hub, load=False).openapi()
    hub.close()
    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops
               if f"`{method.upper()} {path}`" not in text]
    missing += [f"TAHALUF_{f.name.upper()}" for f in fields(HubConfig) if f"TAHALUF_{f.name.upper()}" not in text]
    assert not missing, "not in docs/api.md: " + ", ".join(missing)
