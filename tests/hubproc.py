"""Real hub server processes for end-to-end tests.

:func:`start_hub` runs ``python -m tahaluf --db URL serve`` on a free
loopback port (``--no-deliver``), waits until ``/health/ready`` answers and
returns a :class:`HubProcess`; :meth:`HubProcess.stop` ends it with a signal
and returns its exit status. The server's stdout and stderr go to a log file
that failure messages quote. :func:`run_cli` and :func:`add_member` run other
``tahaluf`` commands the same way (the interpreter running the tests, so a
fresh clone's ``.venv`` works).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["HubProcess", "free_port", "run_cli", "add_member", "start_hub", "running_hub", "hub_env",
           "READY_TIMEOUT_S", "SETTLE_S"]

#: a cold start compiles the index kernels once; later starts take 1-3 s
READY_TIMEOUT_S = 90.0
#: how long a test waits for what normally takes milliseconds (an index refresh, a
#: delivery, an in-process hub becoming ready once the kernels are compiled): sized
#: for a loaded 2-core machine; waits end as soon as the condition holds
SETTLE_S = 30.0


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(cache_dir: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``tahaluf`` child: no inherited ``TAHALUF_*`` settings (but the
    audit key file and the evidence folder and keys), no evidence purge loop, and
    (when given) a private cache folder so index snapshots stay out of the user's cache."""
    # the audit-signing key of the test run is kept: servers sign with the key tests verify with
    kept = ("TAHALUF_AUDIT_KEY_FILE", "TAHALUF_EVIDENCE_DIR", "TAHALUF_EVIDENCE_KEY_FILE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAHALUF_") or k in kept}
    env["PYTHONUNBUFFERED"] = "1"
    env["TAHALUF_EVIDENCE_PURGE_INTERVAL_S"] = "0"  # no purge process beside each test server (unless asked)
    if cache_dir is not None:
        env["XDG_CACHE_HOME"] = str(cache_dir)
    env.update(extra or {})
    return env


def run_cli(db: str, *args: str, timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``tahaluf --db DB ARGS...`` to completion, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "tahaluf", "--db", db, *args],
        capture_output=True, text=True, timeout=timeout_s, env=dict(env) if env is not None else hub_env(),
    )


def add_member(db: str, name: str, *roles: str) -> str:
    """Add a member with ``tahaluf member add`` and return the key it printed."""
    role_args = [a for r in roles for a in ("--role", r)]
    done = run_cli(db, "member", "add", name, *role_args)
    assert done.returncode == 0, f"member add failed ({done.returncode}): {done.stderr}"
    key = done.stdout.strip()
    assert key.startswith("thf_") and "\n" not in key, f"member add printed {done.stdout!r}"
    return key


@dataclass
class HubProcess:
    """One running ``tahaluf serve``."""

    db: str
    port: int
    workers: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def client(self, key: str | None = None, *, fresh_connections: bool = False,
               timeout_s: float = 30.0) -> httpx.Client:
        """An HTTP client for this server (``fresh_connections``: a new TCP connection per
        request, so requests to a multi-worker server land on any worker)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_keepalive_connections=0) if fresh_connections else httpx.Limits()
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, limits=limits)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S, consecutive: int = 1) -> float:
        """Poll ``/health/ready`` until it says 200 ``consecutive`` times in a row on fresh
        connections (so every worker is ready); returns the seconds it took."""
        deadline = time.monotonic() + timeout_s
        streak = 0
        last = "no answer"
        with self.client(fresh_connections=True, timeout_s=5.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited with {self.proc.returncode} before it was ready:\n"
                                         f"{self.log()}")
                try:
                    resp = http.get("/health/ready")
                    last = f"{resp.status_code} {resp.text[:200]}"
                    streak = streak + 1 if resp.status_code == 200 else 0
                except httpx.TransportError as exc:
                    last, streak = repr(exc), 0
                if streak >= consecutive:
                    return time.monotonic() - self.started_at
                time.sleep(0.05 if streak else 0.1)
        self.kill()
        raise AssertionError(f"server not ready within {timeout_s:.0f} s (last: {last}):\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit; returns the exit status (negative: killed by a
        signal). Kills the process group and fails when it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"server did not exit within {timeout_s:.0f} s of "
                                     f"{signal.Signals(sig).name}:\n{self.log()}") from None
        return int(self.proc.returncode)

    def survivors(self) -> list[str]:
        """Command lines of processes still running in the server's process group (the server
        itself, its workers, its webhook deliverer); Linux only (reads ``/proc``)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid and fields[0] != "Z":  # pgrp; not a zombie
                    found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
            except (OSError, IndexError, ValueError):
                continue  # ended while we looked
        return found

    def kill(self) -> None:
        """End the server and every process of its group (workers, deliverer), at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def start_hub(db: str, workdir: Path, *, workers: int = 1, port: int | None = None, deliver: bool = False,
              env: Mapping[str, str] | None = None, wait: bool = True) -> HubProcess:
    """Start ``tahaluf --db DB serve`` on a free port (``--no-deliver`` unless ``deliver``);
    wait until it is ready.

    The server runs in its own process group (so :meth:`HubProcess.kill` reaches its
    workers) with its cache folder under ``workdir``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    fd, log_name = tempfile.mkstemp(prefix=f"hub-{port}-", suffix=".log", dir=workdir)
    args = [sys.executable, "-m", "tahaluf", "--db", db, "serve", "--host", "127.0.0.1", "--port", str(port),
            "--deliver" if deliver else "--no-deliver", "--workers", str(workers)]
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(env) if env is not None else hub_env(workdir / "cache"),
                                start_new_session=True)
    hub = HubProcess(db, port, workers, proc, Path(log_name))
    if wait:
        try:
            hub.wait_ready(consecutive=4 * workers if workers > 1 else 1)
        except BaseException:
            hub.kill()
            raise
    return hub


@contextmanager
def running_hub(db: str, workdir: Path, **kwargs: object) -> Iterator[HubProcess]:
    """:func:`start_hub` for a ``with`` block; the server is stopped (SIGTERM) afterwards."""
    hub = start_hub(db, workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield hub
    finally:
        try:
            hub.stop()
        except AssertionError:
            hub.kill()
