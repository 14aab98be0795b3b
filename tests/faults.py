"""Throwaway Postgres and Redis servers on free loopback ports, for fault tests that stop and restart them.

The machine's shared servers are never touched: these live in temp folders and die with the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            reachable = sock.connect_ex(("127.0.0.1", port)) == 0
        if reachable == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not become {'reachable' if up else 'free'}")


class ThrowawayRedis:
    """A redis-server process of our own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of db 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server; it keeps nothing on disk."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        """Kill the server."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        _wait_port(self.port, up=False)


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").iterdir()) if Path("/usr/lib/postgresql").exists() else []
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries found")
    return versions[-1] / "bin"


class ThrowawayPostgres:
    """A postgres cluster of our own in a temp folder, run as the postgres system user when we are root."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="churns-pg-"))
        self.data = self.dir / "data"
        self.bin = _pg_bin()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            # Postgres refuses to run as root.
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def dsn(self, database: str = "postgres") -> str:
        """libpq URL of a database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        """Create the cluster (trust auth on loopback)."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        _wait_port(self.port, up=True)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: disconnects every client at once)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def destroy(self) -> None:
        """Stop if running and delete the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
