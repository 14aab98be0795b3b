"""What a benchmark runs against: its own database, Redis db, data dir, API server and worker subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark dies without cleaning up (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, str]:
    """The fields of /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB."""
    return int(proc_status(pid)["VmRSS"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Child:
    """A subprocess with its log file; stop() always leaves it dead."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's output, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (uvicorn and arq shut down cleanly on it), then SIGKILL if it does not exit in time."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    """Start a child process whose stdout and stderr go to log_dir/name.log."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    return Child(name=name, proc=proc, log_path=log_path)


def wait_http_ok(child: Child, url: str, timeout: float = 30.0) -> None:
    """Poll url until it answers 200; fail with the child's log if it dies or the time runs out."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc.__class__.__name__
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} did not answer {url} within {timeout:.0f}s ({last}):\n{child.log_tail()}")


def wait_log(child: Child, needles: tuple[str, ...], timeout: float = 30.0) -> None:
    """Wait until the child's log contains one of needles."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
        text = child.log_path.read_text(errors="replace")
        if any(n in text for n in needles):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} did not log any of {needles} within {timeout:.0f}s:\n{child.log_tail()}")


def wait_cpu_quiet(child: Child, share: float = 0.1, window: float = 0.5, timeout: float = 20.0) -> None:
    """Wait (at most `timeout`) until the child uses under `share` of a core over `window` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.alive():
        before = cpu_seconds(child.pid)
        time.sleep(window)
        if cpu_seconds(child.pid) - before < share * window:
            return


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any CHURNS_*/OPENAI_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNS_", "OPENAI_"))}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Target:
    """Where one benchmark's state lives."""

    database_url: str
    redis_url: str
    data_dir: Path
    log_dir: Path

    @property
    def dsn(self) -> str:
        """The database URL in asyncpg's form."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def env(self, port: int) -> dict[str, str]:
        """CHURNS_* settings for the API and the worker."""
        return child_env(
            {
                "CHURNS_DATABASE_URL": self.database_url,
                "CHURNS_REDIS_URL": self.redis_url,
                "CHURNS_DATA_DIR": str(self.data_dir),
                "CHURNS_PROVIDER": "local",
                "CHURNS_HOST": HOST,
                "CHURNS_PORT": str(port),
                "CHURNS_WEB_DIR": str(self.data_dir / "no-web"),
                # Quota checks run (their cost is part of what P5 measures) but never bind.
                "CHURNS_RATE_LIMIT_PER_MINUTE": "1000000000",
                "CHURNS_MAX_ACTIVE_JOBS_PER_TOKEN": "1000000000",
                "CHURNS_MAX_STORAGE_MB_PER_TOKEN": "1000000000",
            }
        )


async def recreate_database(dsn: str) -> None:
    """Drop and create the benchmark's own database."""
    base, _, name = dsn.rpartition("/")
    conn = await asyncio.wait_for(asyncpg.connect(f"{base}/postgres"), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def flush_redis(url: str) -> None:
    """Empty the benchmark's own Redis db."""
    from redis.asyncio import Redis

    redis = Redis.from_url(url, socket_connect_timeout=5)
    try:
        await asyncio.wait_for(redis.flushdb(), timeout=10)
    finally:
        await redis.aclose()


def prepare(target: Target) -> None:
    """Recreate the database, migrate it to head with Alembic and empty the Redis db."""
    from churns_gql.cli import migrate

    asyncio.run(recreate_database(target.dsn))
    # Alembic's env.py calls asyncio.run itself, so it runs outside any event loop.
    errors: list[BaseException] = []

    def upgrade() -> None:
        """Run the migration, keeping its exception for the caller."""
        try:
            migrate(target.database_url)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=upgrade, daemon=True)
    thread.start()
    thread.join(timeout=120)
    if thread.is_alive():
        raise TimeoutError("alembic upgrade did not finish within 120s")
    if errors:
        raise errors[0]
    asyncio.run(flush_redis(target.redis_url))


class Stack:
    """The API server and the worker under test, started and stopped as subprocesses."""

    def __init__(self, target: Target, api_argv: list[str] | None = None, worker_argv: list[str] | None = None) -> None:
        """Nothing starts yet; the API port is chosen now."""
        self.target = target
        self.api_argv = api_argv or [sys.executable, "-m", "churns_gql.cli", "serve"]
        self.worker_argv = worker_argv or [sys.executable, "-m", "churns_gql.cli", "worker"]
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.api: Child | None = None
        self.worker: Child | None = None
        self.extra: list[Child] = []

    def start_api(self) -> None:
        """`churns-gql serve` (or the A/B command given) on a free loopback port, waiting until /readyz answers."""
        self.api = spawn("api", self.api_argv, self.target.env(self.port), self.target.log_dir)
        wait_http_ok(self.api, f"{self.base_url}/readyz")

    def start_worker(self) -> None:
        """`churns-gql worker` (or the A/B command given) with the offline provider, waiting until it has started."""
        self.worker = spawn("worker", self.worker_argv, self.target.env(self.port), self.target.log_dir)
        wait_log(self.worker, ("worker started", "Starting worker"))

    def stop_worker(self) -> None:
        """Stop the worker (jobs enqueued afterwards stay queued)."""
        if self.worker is not None:
            self.worker.stop()

    def start_peer(self) -> tuple[Child, str]:
        """The bare Strawberry app under the same uvicorn settings, on its own free port."""
        port = free_port()
        argv = [sys.executable, "-m", "bench.peer_app", "--port", str(port)]
        peer = spawn("peer", argv, child_env({}), self.target.log_dir)
        self.extra.append(peer)
        url = f"http://{HOST}:{port}"
        wait_http_ok(peer, f"{url}/graphql?query=%7Bhello%7D")
        return peer, url

    def start_extra_worker(self, name: str) -> Child:
        """One more worker process beside the first (stopped by the caller, or by stop())."""
        child = spawn(name, self.worker_argv, self.target.env(self.port), self.target.log_dir)
        self.extra.append(child)
        wait_log(child, ("worker started", "Starting worker"))
        # It loads the OCR models after saying it started; the P7 clock and CPU count start once that is done,
        # as the editor-alone floor's do after its untimed first pass.
        wait_cpu_quiet(child)
        return child

    def require_worker(self) -> Child:
        """The first worker, which must be running."""
        if self.worker is None or not self.worker.alive():
            raise RuntimeError("the worker is not running")
        return self.worker

    def start_fanout_peer(self) -> tuple[Child, int]:
        """The bare fan-out peer (bench/fanout_peer.py) LISTENing on the bench database; returns it and its port."""
        port = free_port()
        argv = [sys.executable, "-m", "bench.fanout_peer", "--port", str(port), "--dsn", self.target.dsn]
        peer = spawn("fanout-peer", argv, child_env({}), self.target.log_dir)
        self.extra.append(peer)
        wait_log(peer, ("fan-out peer listening",))
        return peer, port

    def stop(self) -> None:
        """Stop every child; never raises, so it is safe in finally blocks."""
        for child in [*self.extra, self.worker, self.api]:
            if child is not None:
                with contextlib.suppress(Exception):
                    child.stop()

    def require_api(self) -> Child:
        """The API child, which must be running."""
        if self.api is None or not self.api.alive():
            tail = self.api.log_tail() if self.api else ""
            raise RuntimeError(f"the API server is not running\n{tail}")
        return self.api


def cpu_busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of all cores that were busy between two cpu_busy_jiffies() readings."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 2) if total > 0 else 0.0


def wait_quiet(max_wait_s: float, *, threshold: float = 0.15, window_s: float = 1.0) -> float:
    """Wait (at most max_wait_s) until the machine is under `threshold` busy; returns the last busy share."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = cpu_busy_jiffies()
        time.sleep(window_s)
        share = busy_share(before, cpu_busy_jiffies())
        if share < threshold or time.monotonic() >= deadline:
            return share


def machine() -> dict[str, Any]:
    """The machine a run happened on: cores, CPU model, RAM, Python."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
    }
