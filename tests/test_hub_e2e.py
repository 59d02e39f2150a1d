"""End to end: real ``tahaluf serve`` processes over HTTP, on SQLite and PostgreSQL.

Servers are started once per module (see :mod:`hubproc`); each test makes its
own banks, so tests share servers without sharing data. Propagation between
servers is measured from the moment the change's request returned.
"""

from __future__ import annotations

import io
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubproc import HubProcess, add_member, hub_env, run_cli, start_hub
from neutral_posts import OTHER_EN, POST_EN
from PIL import Image, ImageDraw

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PROPAGATION_S = 2.0  # the bound: a change made through one server is seen by another within 2 s
LABELS = {"entity": "demo-entity"}
LIBRARY_POST = ("The city library extends its opening hours from next week. Readers can borrow up to ten "
                "books at a time, and the reading room stays open until nine in the evening.")


@dataclass(frozen=True)
class Served:
    """A running server and an admin key for it."""

    hub: HubProcess
    key: str

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.hub.client(self.key, **kwargs)


# -- helpers --------------------------------------------------------------------
def flip_bits(hex_hash: str, n: int) -> str:
    """``hex_hash`` with its first ``n`` bits inverted (Hamming distance ``n``)."""
    value = int(hex_hash, 16) ^ (((1 << n) - 1) << (len(hex_hash) * 4 - n))
    return f"{value:0{len(hex_hash)}x}"


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def poll(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.02) -> float:
    """Call ``check`` until it is true; returns the seconds that took (fails after ``timeout_s``)."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(interval_s)


def matched_ids(http: httpx.Client, value: str, signal_type: str = "pdq") -> list[str]:
    resp = http.get("/v1/lookup", params={"type": signal_type, "value": value})
    assert resp.status_code == 200, resp.text
    return [m["external_id"] for m in resp.json()["matches"]]


def new_bank(http: httpx.Client, name: str, **fields: Any) -> None:
    resp = http.post("/v1/banks", json={"name": name, "labels": LABELS, **fields})
    assert resp.status_code == 201, resp.text


def add_items(http: httpx.Client, bank: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = http.post(f"/v1/banks/{bank}/items", json={"items": items})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["errors"] == [] and report["imported"] == len(items), report
    return report


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A generated picture: a colour gradient with a few shapes (``seed`` picks them)."""
    rng = random.Random(seed)
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(w - 60), rng.randrange(h - 60)
        box = (x0, y0, x0 + rng.randrange(40, w // 2), y0 + rng.randrange(40, h // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return img


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def metric(http: httpx.Client, name: str, **labels: str) -> float | None:
    """One sample of this server's ``/metrics`` (None when absent)."""
    text = http.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
            return float(m.group(3))
    return None


# -- servers ----------------------------------------------------------------------
class Fleet:
    """Every server the module needs, started at once so they load in parallel.

    ``sqlite`` and the PostgreSQL servers ``pg_a``, ``pg_b`` (one worker each) and
    ``pg_w2`` (two workers, same database) have an admin made with ``tahaluf member add``;
    ``term`` and ``int`` (stopped by the signal tests) run on databases of their own.
    """

    def __init__(self, work: Path, pg_url: str | None, pg_skip: str) -> None:
        self.pg_url, self.pg_skip = pg_url, pg_skip
        self.sqlite_url = f"sqlite:///{work / 'hub.db'}"
        urls = [self.sqlite_url] + ([pg_url] if pg_url else [])
        with ThreadPoolExecutor(len(urls)) as pool:  # the CLI first: it creates the schema
            self.keys = dict(zip(urls, pool.map(lambda url: add_member(url, "operator", "admin"), urls)))
        plan: dict[str, tuple[str, int]] = {"sqlite": (self.sqlite_url, 1),
                                            "term": (f"sqlite:///{work / 'term.db'}", 1),
                                            "int": (f"sqlite:///{work / 'int.db'}", 1)}
        if pg_url:
            plan.update({"pg_a": (pg_url, 1), "pg_b": (pg_url, 1), "pg_w2": (pg_url, 2)})
        self.hubs: dict[str, HubProcess] = {}
        for name, (url, workers) in plan.items():  # the signal tests also check the deliverer stops
            self.hubs[name] = start_hub(url, work / name, workers=workers, deliver=name in ("term", "int"),
                                        wait=False)
        self._ready: set[str] = set()

    def get(self, name: str) -> Served:
        """The named server, once ready (skips PostgreSQL servers when there is no PostgreSQL)."""
        if name.startswith("pg") and not self.pg_url:
            pytest.skip(self.pg_skip)
        hub = self.hubs[name]
        if name not in self._ready:
            hub.wait_ready(consecutive=4 * hub.workers if hub.workers > 1 else 1)
            self._ready.add(name)
        return Served(hub, self.keys.get(hub.db, ""))

    def stop_all(self) -> None:
        for hub in self.hubs.values():
            try:
                hub.stop()
            except AssertionError:
                pass
            hub.kill()  # whatever the server left behind


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from conftest import pg_schema_url

    schema = pg_schema_url()
    try:
        pg_url, pg_skip = next(schema), ""
    except pytest.skip.Exception as exc:  # no PostgreSQL here (under CI=true pg_schema_url fails instead)
        pg_url, pg_skip = None, str(exc)
    ships = Fleet(tmp_path_factory.mktemp("hubs"), pg_url, pg_skip)
    try:
        yield ships
    finally:
        ships.stop_all()
        if pg_url:
            schema.close()  # drops the schema


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, fleet: Fleet) -> Served:
    return fleet.get("sqlite" if request.param == "sqlite" else "pg_a")


@pytest.fixture
def pg_pair(fleet: Fleet) -> tuple[Served, Served]:
    """Two servers (A and B) on one PostgreSQL database."""
    return fleet.get("pg_a"), fleet.get("pg_b")


# -- one server, each backend ---------------------------------------------------
def test_health_openapi_and_metrics(served: Served) -> None:
    with served.hub.client() as http:
        assert http.get("/health/live").json() == {"status": "ok"}
        ready = http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        spec = http.get("/openapi.json").json()
        assert {"get", "post"} <= set(spec["paths"]["/v1/lookup"])
        assert "/v1/banks/{name}/items" in spec["paths"]
        assert http.get("/docs").status_code == 200
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert 'tahaluf_http_requests_total{method="GET",route="/health/ready",status="200"}' in metrics.text
        assert metric(http, "tahaluf_ready") == 1.0


def test_v1_needs_a_valid_key(served: Served) -> None:
    with served.hub.client() as anonymous, served.hub.client("thf_" + "x" * 43) as wrong:
        for http in (anonymous, wrong):
            for resp in (http.get("/v1/banks"), http.get("/v1/lookup", params={"type": "pdq", "value": PDQ_A})):
                assert resp.status_code == 401
                assert resp.json()["error"]["code"] and resp.json()["error"]["message"]
                assert resp.headers["www-authenticate"] == "Bearer"
    with served.client() as http:
        assert http.get("/v1/me").json()["name"] == "operator"


def test_add_signals_then_look_them_up(served: Served) -> None:
    bank = f"signals-{served.hub.port}"
    with served.client() as http:
        new_bank(http, bank)
        hashed = http.post("/v1/hash/text", json={"text": POST_EN}).json()
        [sketch] = [s["value"] for s in hashed["signals"] if s["type"] == "text"]
        assert sketch.startswith("t1:")
        add_items(http, bank, [{"external_id": "post-1", "signals": [{"type": "pdq", "value": PDQ_A},
                                                                     {"type": "text", "value": sketch}]}])
        near = flip_bits(PDQ_A, 5)
        poll(lambda: matched_ids(http, near) == ["post-1"], PROPAGATION_S, "own server sees the new item")
        [match] = http.get("/v1/lookup", params={"type": "pdq", "value": near}).json()["matches"]
        assert (match["bank"], match["signal_type"], match["distance"]) == (bank, "pdq", 5)
        assert match["labels"]["entity"] == "demo-entity"
        batch = http.post("/v1/lookup", json={"signals": [
            {"type": "pdq", "value": PDQ_A},
            {"type": "pdq", "value": flip_bits(PDQ_A, 12)},
            {"type": "pdq", "value": flip_bits(PDQ_A, 128)},
            {"type": "text", "value": POST_EN},
            {"type": "text", "value": OTHER_EN},
        ]})
        assert batch.status_code == 200, batch.text
        results = batch.json()["results"]
        assert [[m.get("distance") for m in r["matches"]] for r in results[:3]] == [[0], [12], []]
        assert [m["external_id"] for m in results[3]["matches"]] == ["post-1"]
        assert results[3]["matches"][0]["similarity"] > 0.9 and results[3]["actionable"] is True
        assert results[4]["matches"] == []
        by_text = http.post("/v1/lookup/text", json={"text": POST_EN}).json()
        assert [m["external_id"] for m in by_text["matches"]] == ["post-1"]


def test_upload_a_photo_then_look_up_a_resized_copy(served: Served) -> None:
    bank = f"photos-{served.hub.port}"
    original = photo((640, 480), seed=1)
    with served.client() as http:
        new_bank(http, bank)
        resp = http.post(f"/v1/banks/{bank}/items/content", data={"external_id": "photo-1"},
                         files={"file": ("gradient.png", encoded(original, "PNG"), "image/png")})
        assert resp.status_code == 200, resp.text
        assert resp.json()["imported"] == 1

        def lookup(img: Image.Image) -> list[dict[str, Any]]:
            r = http.post("/v1/lookup/content", files={"file": ("copy.jpg", encoded(img, "JPEG"), "image/jpeg")})
            assert r.status_code == 200, r.text
            assert r.json()["content_type"] == "photo"
            return [m for m in r.json()["matches"] if m["bank"] == bank]

        copy = original.resize((320, 240))
        poll(lambda: bool(lookup(copy)), PROPAGATION_S, "the uploaded photo becomes matchable")
        [match] = lookup(copy)
        assert match["external_id"] == "photo-1" and match["signal_type"] == "pdq"
        assert match["distance"] <= 16
        assert lookup(photo((640, 480), seed=2)) == []


def test_a_post_added_as_a_text_signal_is_matched_and_does_not_stop_the_indexes(served: Served) -> None:
    """``SignalIn`` documents a text value as "the post itself or a t1: sketch": a post given
    as itself is either matched or refused, and never breaks index upkeep or loading."""
    bank = f"posts-{served.hub.port}"
    rng = random.Random(7)
    near, far = random_pdq(rng), random_pdq(rng)
    with served.client() as http:
        new_bank(http, bank)
        resp = http.post(f"/v1/banks/{bank}/items", json={"items": [
            {"external_id": "photo-1", "signals": [{"type": "pdq", "value": near}]},
            {"external_id": "post-1", "signals": [{"type": "text", "value": LIBRARY_POST}]},
            {"external_id": "photo-2", "signals": [{"type": "pdq", "value": far}]},
        ]})
        assert resp.status_code == 200, resp.text
        if resp.json()["errors"] == []:  # accepted as a post
            poll(lambda: matched_ids(http, LIBRARY_POST, "text") == ["post-1"], PROPAGATION_S, "the post is matched")
        for value, item in ((near, "photo-1"), (far, "photo-2")):
            poll(lambda: item in matched_ids(http, value), PROPAGATION_S, f"{item} is matched")
    assert "refresh failed" not in served.hub.log(), served.hub.log()
    from tahaluf.bootstrap import open_hub
    from tahaluf.services.hub import HubConfig

    restarted = open_hub(HubConfig(db=served.hub.db, snapshot=False))
    try:
        restarted.load()  # what every worker does when it starts
    finally:
        restarted.close()


# -- two servers on one PostgreSQL database --------------------------------------
@pytest.mark.postgres
def test_change_through_a_is_seen_by_b_within_2_s(pg_pair: tuple[Served, Served]) -> None:
    a, b = pg_pair
    value = flip_bits(PDQ_A, 64)
    with a.client() as via_a, b.client() as via_b:
        new_bank(via_a, "shared-change")
        assert matched_ids(via_b, value) == []
        add_items(via_a, "shared-change", [{"external_id": "item-1", "signals": [{"type": "pdq", "value": value}]}])
        seen = poll(lambda: matched_ids(via_b, value) == ["item-1"], 5, "B sees the add")
        # B applies the log in order: seeing the add means every earlier change is applied too
        pdq_before = metric(via_b, "tahaluf_index_signals", type="pdq") - 1
        resp = via_a.patch("/v1/banks/shared-change/items/item-1", json={"enabled": False})
        assert resp.status_code == 200 and resp.json()["enabled"] is False
        disabled = poll(lambda: matched_ids(via_b, value) == [], 5, "B stops matching the disabled item")
        assert via_a.patch("/v1/banks/shared-change/items/item-1", json={"enabled": True}).status_code == 200
        poll(lambda: matched_ids(via_b, value) == ["item-1"], 5, "B matches the item enabled again")
        assert via_a.delete("/v1/banks/shared-change").status_code == 204
        deleted = poll(lambda: matched_ids(via_b, value) == [], 5, "B stops matching the deleted bank")
        dropped = poll(lambda: metric(via_b, "tahaluf_index_signals", type="pdq") == pdq_before, 5,
                       "B's index drops the deleted bank's signals")
    print(f"\nB saw: add {seen:.3f} s, disable {disabled:.3f} s, delete {deleted:.3f} s "
          f"(index {dropped:.3f} s)")
    assert max(seen, disabled, deleted, dropped) < PROPAGATION_S


def lookup_counts(http: httpx.Client) -> float:
    """Lookups by value (GET, 200) that the worker answering this request has answered."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("tahaluf_http_requests_total{") and 'method="GET"' in line and 'status="200"' in line \
                and re.search(r'route="(/v1)?/lookup"', line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def until_every_worker_agrees(http: httpx.Client, value: str, item: str, timeout_s: float = 10) -> tuple[float, int]:
    """Look ``value`` up on fresh connections until 40 answers in a row match ``item``;
    returns (seconds from the call to the last answer without it, lookups made)."""
    start = time.monotonic()
    last_miss, streak, lookups = 0.0, 0, 0
    while streak < 40:
        lookups += 1
        if matched_ids(http, value) == [item]:
            streak += 1
        else:
            streak, last_miss = 0, time.monotonic() - start
        assert time.monotonic() - start < timeout_s, "the workers never agreed"
    return last_miss, lookups


@pytest.mark.postgres
def test_two_workers_both_see_a_change_within_2_s(fleet: Fleet) -> None:
    served = fleet.get("pg_w2")
    rng = random.Random(2)
    first, second = random_pdq(rng), random_pdq(rng)
    with served.client() as one, served.client(fresh_connections=True) as any_worker:
        before = {lookup_counts(any_worker) for _ in range(20)}
        new_bank(one, "two-workers")
        add_items(one, "two-workers", [{"external_id": "w-1", "signals": [{"type": "pdq", "value": first}]}])
        cold, lookups = until_every_worker_agrees(any_worker, first, "w-1")  # each worker's first change
        add_items(one, "two-workers", [{"external_id": "w-2", "signals": [{"type": "pdq", "value": second}]}])
        warm, more = until_every_worker_agrees(any_worker, second, "w-2")
        per_worker = sorted({lookup_counts(any_worker) for _ in range(30)})
    print(f"\nlast miss after the add: {cold:.3f} s (first change), {warm:.3f} s (second); "
          f"lookups answered per worker {per_worker}")
    assert warm < PROPAGATION_S and cold < 2 * PROPAGATION_S
    # each worker counts only the lookups it answered: both answered some
    assert before == {0.0} and len(per_worker) in (1, 2) and 0.0 not in per_worker
    if len(per_worker) == 2:
        assert sum(per_worker) == lookups + more
    else:  # both answered exactly half
        assert per_worker == [(lookups + more) / 2]


@pytest.mark.postgres
def test_lookups_keep_answering_while_changes_are_applied(pg_pair: tuple[Served, Served]) -> None:
    a, b = pg_pair
    rng = random.Random(4)
    known = flip_bits(PDQ_A, 200)
    batches = [[{"external_id": f"bulk-{n * 200 + i}", "signals": [{"type": "pdq", "value": random_pdq(rng)}]}
                for i in range(200)] for n in range(10)]
    with a.client() as via_a, b.client() as via_b:
        pdq_before = metric(via_b, "tahaluf_index_signals", type="pdq") or 0.0
        new_bank(via_a, "bulk")
        add_items(via_a, "bulk", [{"external_id": "known", "signals": [{"type": "pdq", "value": known}]}])
        poll(lambda: matched_ids(via_b, known) == ["known"], 5, "B sees the known item")
        done = threading.Event()
        latencies: list[float] = []
        failures: list[str] = []

        def read() -> None:
            while not done.is_set():
                start = time.perf_counter()
                try:
                    resp = via_b.get("/v1/lookup", params={"type": "pdq", "value": known})
                    ok = resp.status_code == 200 and [m["external_id"] for m in resp.json()["matches"]] == ["known"]
                    if not ok:
                        failures.append(f"{resp.status_code} {resp.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                latencies.append(time.perf_counter() - start)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for batch in batches:
                add_items(via_a, "bulk", batch)
            last = batches[-1][-1]["signals"][0]["value"]
            caught_up = poll(lambda: matched_ids(via_a, last) == [batches[-1][-1]["external_id"]], 10,
                             "A applies its own adds")
            poll(lambda: matched_ids(via_b, last) == [batches[-1][-1]["external_id"]], 10, "B applies the adds")
            poll(lambda: metric(via_b, "tahaluf_index_signals", type="pdq") == pdq_before + 2001, 5,
                 "B's index holds every added hash")
        finally:
            done.set()
            reader.join()
        bank = via_b.get("/v1/banks/bulk").json()
    print(f"\n{len(latencies)} lookups on B during 2,000 adds on A: max {max(latencies) * 1000:.1f} ms, "
          f"median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms (A caught up in {caught_up:.2f} s)")
    assert failures == []
    assert len(latencies) > 20 and max(latencies) < 1.0
    assert bank["counts"]["items"] == 2001


# -- start and stop ----------------------------------------------------------------
def test_busy_port_is_refused_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(db, "serve", "--port", str(port), "--no-deliver", env=hub_env(tmp_path / "cache"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
                                        "(pass --port)"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stops_cleanly_on_a_signal(sig: signal.Signals, fleet: Fleet) -> None:
    """What ``docker stop`` / systemd (SIGTERM) and Ctrl-C (SIGINT) do: the server, and the
    webhook deliverer it started beside itself, end within a few seconds without a traceback."""
    served = fleet.get("term" if sig == signal.SIGTERM else "int")
    with served.hub.client() as http:
        assert http.get("/health/live").status_code == 200
    assert any("webhooks deliver" in cmd for cmd in served.hub.survivors())
    start = time.monotonic()
    status = served.hub.stop(sig, timeout_s=10)  # the server gives its deliverer up to 5 s; a loaded CI machine more
    took = time.monotonic() - start
    log = served.hub.log()
    assert status in (0, -sig, 128 + sig), log  # success, or "ended by this signal" (uvicorn re-raises it)
    assert took < 10 and "Traceback" not in log and "error" not in log.lower(), log
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.hub.url}/health/live", timeout=2)
    try:
        poll(lambda: not served.hub.survivors(), 5, "every process of the server ends")
    except AssertionError:
        raise AssertionError(f"still running after {sig.name}: {served.hub.survivors()}") from None
