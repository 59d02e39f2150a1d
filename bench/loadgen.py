"""Load generation for the hub benchmarks (``hub_load_bench.py``, ``hub_soak.py``).

* :class:`Connection`: a lean HTTP/1.1 client over asyncio streams (keep-alive,
  pre-encoded requests, ``Content-Length`` bodies), fast enough to drive
  several thousand requests/s from one core (uvloop when it imports).
* :func:`closed_loop`: N connections, each sending its next request as soon
  as the last answered (what ``wrk`` does). :func:`open_loop`: requests sent
  on a fixed schedule, latency counted from the scheduled time (so a stalled
  server shows in the tail instead of slowing the generator down).
* :func:`run_wrk`: the same closed loop by ``wrk`` (C, one thread), when it is
  installed; None otherwise.
* ``/proc`` readers: a process and its children, their RSS, PSS and CPU
  time, and the whole machine's busy time (to tell how much CPU other
  programs took).
* :func:`running_server`: ``python -m tahaluf serve`` as a subprocess (rate
  limits off), ready once every worker has loaded its indexes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "HttpRequest", "encode_request", "Connection", "LoadResult", "closed_loop", "open_loop", "run_async",
    "wrk_path", "run_wrk", "wait_ready", "process_tree", "rss_mb", "pss_mb", "cpu_seconds", "machine_busy_s",
    "Server", "running_server",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    body: bytes = b""


def encode_request(req: HttpRequest, host: str, port: int, token: str | None) -> bytes:
    """The raw HTTP/1.1 bytes of ``req`` (keep-alive, JSON body when there is one)."""
    lines = [f"{req.method} {req.path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if req.body or req.method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(req.body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + req.body


class Connection:
    """One keep-alive HTTP/1.1 connection; :meth:`send` returns (status, body)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            await self._open()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, length, chunked, close = _parse_head(head)
            body = await (self._read_chunked() if chunked else self._reader.readexactly(length))
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self._reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return status, length, chunked, close


@dataclass(slots=True)
class LoadResult:
    """What one load run measured (latencies in milliseconds)."""

    tool: str
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @classmethod
    def from_latencies(cls, tool: str, latencies_s: Sequence[float], errors: int, duration_s: float,
                       statuses: Counter[int]) -> LoadResult:
        lat = np.asarray(latencies_s, dtype=np.float64) * 1000.0
        if len(lat) == 0:
            lat = np.zeros(1)
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        return cls(tool, len(latencies_s), errors, duration_s, float(p50), float(p90), float(p99),
                   float(lat.max()), dict(statuses))


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def add(self, status: int, latency_s: float) -> None:
        self.latencies.append(latency_s)
        self.statuses[status] += 1
        if not 200 <= status < 300:
            self.errors += 1

    def failed(self) -> None:
        self.errors += 1
        self.statuses[0] += 1


async def closed_loop(host: str, port: int, raws: Sequence[bytes], concurrency: int,
                      duration_s: float, *, stagger_s: float = 0.0) -> LoadResult:
    """``concurrency`` connections sending back to back for ``duration_s``; requests cycle through ``raws``.

    ``stagger_s`` > 0 opens the connections that far apart, each sending one
    (uncounted) request at once, before the timed run: while a worker is busy
    with one, the next connection goes to another worker (a burst of new
    connections tends to be accepted by one worker, and keep-alive keeps them
    there).
    """
    tally = _Tally()
    step = max(1, len(raws) // max(1, concurrency))
    conns = [Connection(host, port) for _ in range(concurrency)]
    if stagger_s > 0:  # a request in flight on each connection keeps its worker busy while the next one opens
        warmups = []
        for n, conn in enumerate(conns):
            warmups.append(asyncio.create_task(conn.send(raws[(n * step) % len(raws)])))
            await asyncio.sleep(stagger_s)
        await asyncio.gather(*warmups)
    deadline = time.perf_counter() + duration_s

    async def worker(n: int) -> None:
        conn, i = conns[n], n * step
        while time.perf_counter() < deadline:
            raw = raws[i % len(raws)]
            i += 1
            start = time.perf_counter()
            try:
                status, _ = await conn.send(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.failed()
                await asyncio.sleep(0.01)
                continue
            tally.add(status, time.perf_counter() - start)
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return LoadResult.from_latencies("python", tally.latencies, tally.errors, time.perf_counter() - t0,
                                     tally.statuses)


async def open_loop(host: str, port: int, raws: Sequence[bytes], rate_per_s: float, duration_s: float,
                    max_connections: int = 64) -> LoadResult:
    """Send at ``rate_per_s`` on a fixed schedule; latency counts from the scheduled time.

    A request waits for a free connection (at most ``max_connections``); that
    wait is part of its latency, as it would be for a real client.
    """
    tally = _Tally()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(max_connections):
        pool.put_nowait(Connection(host, port))
    pending: set[asyncio.Task[None]] = set()

    async def one(raw: bytes, scheduled: float) -> None:
        conn = await pool.get()
        try:
            status, _ = await conn.send(raw)
            tally.add(status, time.perf_counter() - scheduled)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.failed()
        finally:
            pool.put_nowait(conn)

    t0 = time.perf_counter()
    total = int(rate_per_s * duration_s)
    for i in range(total):
        scheduled = t0 + i / rate_per_s
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(raws[i % len(raws)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    while not pool.empty():
        pool.get_nowait().close()
    return LoadResult.from_latencies("python open loop", tally.latencies, tally.errors,
                                     time.perf_counter() - t0, tally.statuses)


def run_async(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine on uvloop when it imports (a faster client), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- wrk --------------------------------------------------------------------------------

_WRK_LUA = r"""
local reqs, counter = {}, 0
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while true do
    local s = string.find(data, "\0", pos, true)
    if not s then break end
    reqs[#reqs + 1] = string.sub(data, pos, s - 1)
    pos = s + 1
  end
  counter = tonumber(args[2]) % #reqs
end
request = function()
  counter = counter % #reqs + 1
  return reqs[counter]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(host: str, port: int, raws: Sequence[bytes], concurrency: int, duration_s: float,
            *, threads: int = 1, timeout_s: float = 10.0) -> LoadResult | None:
    """The closed loop run by ``wrk`` (None when wrk is not installed)."""
    exe = wrk_path()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tahaluf-wrk-") as tmp:
        script, data = Path(tmp) / "requests.lua", Path(tmp) / "requests.bin"
        script.write_text(_WRK_LUA, encoding="ascii")
        data.write_bytes(b"".join(r + b"\0" for r in raws))
        cmd = [exe, f"-t{threads}", f"-c{max(concurrency, threads)}", f"-d{max(1, round(duration_s))}s",
               f"--timeout={timeout_s:g}s", "-s", str(script), f"http://{host}:{port}/", "--", str(data), "0"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    r = json.loads(line[len("WRKJSON "):])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return LoadResult("wrk", r["requests"], errors, r["duration_us"] / 1e6, r["p50"] / 1000, r["p90"] / 1000,
                      r["p99"] / 1000, r["max"] / 1000, note=f"non-2xx {r['status']}, timeouts {r['timeout']}")


# -- server process helpers -----------------------------------------------------------------

def wait_ready(base_url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Poll ``/health/ready`` until it answers 200; returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(base_url + "/health/ready", timeout=2) as resp:
                if resp.status == 200:
                    return time.perf_counter() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{base_url} not ready after {timeout_s:.0f} s")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids``."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores; from /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / CLK_TCK


def pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` in MB (shared pages divided among their users; 0 when gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the hub server under test ------------------------------------------------------------------------------

@dataclass(slots=True)
class Server:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    ready_s: float
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def rss_mb(self) -> dict[int, float]:
        return {pid: rss_mb(pid) for pid in self.pids()}

    def rss_by_role(self) -> dict[str, list[float]]:
        """RSS in MB of uvicorn's ``supervisor``, the ``workers`` (with one worker, the main process)
        and multiprocessing's ``helper`` (its resource tracker)."""
        out: dict[str, list[float]] = {"supervisor": [], "workers": [], "helper": []}
        for pid, mb in self.rss_mb().items():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            role = "supervisor" if pid == self.proc.pid else "helper" if b"resource_tracker" in cmd else "workers"
            out[role].append(mb)
        if not out["workers"]:  # one worker: uvicorn serves in the main process
            out["workers"], out["supervisor"] = out["supervisor"], []
        return out


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_command(url: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "tahaluf", "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port),
            "--no-deliver", "--workers", str(workers)]


@contextmanager
def running_server(url: str, workers: int, *, env: dict[str, str] | None = None,
                   timeout_s: float = 600) -> Iterator[Server]:
    """Start the hub (rate limits off), wait until every worker has loaded, stop it on exit."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="tahaluf-hub-", suffix=".log")[1])
    full_env = {**os.environ, "TAHALUF_RATE_LIMIT_PER_S": "0", **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(server_command(url, port, workers), env=full_env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server(proc, "127.0.0.1", port, 0.0, log)
    try:
        t0 = time.perf_counter()
        try:
            wait_ready(server.base_url, timeout_s, proc)
            _wait_settled(server, timeout_s)
        except RuntimeError as exc:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            raise SystemExit(f"{exc}; its log ({log}) ends:\n" + "\n".join(tail)) from None
        server.ready_s = time.perf_counter() - t0
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.unlink(missing_ok=True)  # kept when something failed


def _wait_settled(server: Server, timeout_s: float) -> None:
    """Every worker ready: 20 fresh connections in a row say ready and the processes are idle
    (a worker still loading its index keeps a core busy)."""
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        oks = 0
        for _ in range(20):
            try:
                with urllib.request.urlopen(server.base_url + "/health/ready", timeout=2) as r:
                    oks += r.status == 200
            except OSError:
                break
        pids = server.pids()
        c0 = cpu_seconds(pids)
        time.sleep(1.0)
        if oks == 20 and cpu_seconds(pids) - c0 < 0.3:
            return
    raise RuntimeError("the server's workers did not settle")
