"""Chaos soak: mixed load on a real API and worker while a chaos loop kills and restarts everything.

`python -m tests.soak --minutes 10` (what `make soak` runs). Throwaway Postgres and Redis (tests/faults.py),
the API (`churns-gql serve`) and a worker (`churns-gql worker`) as processes, the data dir on a small
tmpfs that is filled once (when this process may mount one). At the end every invariant is checked and
one table of faults and invariants is printed; the exit code says whether all held.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from tests.faults import ThrowawayPostgres, ThrowawayRedis, _wait_port, free_port
from tests.soak_checks import Tally, check_invariants
from tests.soak_load import Load

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("kill -9 worker", "kill -9 API", "restart Redis", "restart Postgres")


@dataclass
class Stack:
    """The servers and processes under test."""

    pg: ThrowawayPostgres
    redis: ThrowawayRedis
    data_dir: Path
    tmpfs: bool
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="churns-soak-logs-")))

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the soak database."""
        return self.pg.dsn().replace("postgresql://", "postgresql+asyncpg://")

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Settings for the API and the worker (quotas high enough never to bind)."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNS_", "OPENAI_"))}
        return {
            **keep,
            "CHURNS_DATABASE_URL": self.database_url,
            "CHURNS_REDIS_URL": self.redis.url,
            "CHURNS_DATA_DIR": str(self.data_dir),
            "CHURNS_PROVIDER": "local",
            "CHURNS_PORT": str(self.port),
            "CHURNS_HOST": "127.0.0.1",
            "CHURNS_WEB_DIR": str(self.data_dir / "no-web"),
            "CHURNS_RATE_LIMIT_PER_MINUTE": "0",
            "CHURNS_MAX_ACTIVE_JOBS_PER_TOKEN": "0",
            "CHURNS_MAX_STORAGE_MB_PER_TOKEN": "0",
            "CHURNS_REFINEMENT_TIMEOUT_S": "60",
        }

    def _spawn(self, command: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{command}.log", "ab")  # noqa: SIM115 - owned by the child for its life
        return subprocess.Popen(
            [sys.executable, "-m", "churns_gql.cli", command],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_api(self) -> None:
        """Start the API and wait for its port."""
        self.api = self._spawn("serve")
        _wait_port(self.port, up=True, timeout=30)

    def start_worker(self) -> None:
        """Start a worker."""
        self.worker = self._spawn("worker")

    def kill(self, which: str) -> None:
        """kill -9 the API or the worker."""
        proc = self.api if which == "api" else self.worker
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        """Stop both processes."""
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _mount_tmpfs(path: Path, megabytes: int) -> bool:
    """Mount a tmpfs of `megabytes` at `path`; False where this process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _fill(path: Path) -> Path:
    """Fill the file system of `path` to the last byte; returns the filler to delete."""
    filler = path / ".filler"
    with open(filler, "wb") as out:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def png(seed: int, size: int = 256) -> bytes:
    """A small noisy PNG, different per seed."""
    rng = random.Random(seed)
    image = Image.effect_noise((size, size), 40 + rng.randint(0, 40)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def chaos(stack: Stack, tally: Tally, stop: asyncio.Event, every_s: float) -> None:
    """Inject one fault every `every_s` seconds, cycling through them; the disk is filled once."""
    rng = random.Random(7)
    order = list(FAULTS)
    step = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
            return
        except TimeoutError:
            pass
        if step == 2 and stack.tmpfs and not tally.faults["disk full"]:
            filler = await asyncio.to_thread(_fill, stack.data_dir)
            tally.faults["disk full"] += 1
            await asyncio.sleep(5)
            filler.unlink()
        fault = order[step % len(order)] if step < len(order) else rng.choice(order)
        step += 1
        tally.faults[fault] += 1
        if fault == "kill -9 worker":
            stack.kill("worker")
            await asyncio.sleep(1)
            stack.start_worker()
        elif fault == "kill -9 API":
            stack.kill("api")
            await asyncio.sleep(1)
            await asyncio.to_thread(stack.start_api)
        elif fault == "restart Redis":
            await asyncio.to_thread(stack.redis.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(stack.redis.start)
        else:
            await asyncio.to_thread(stack.pg.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(stack.pg.start)


async def soak(minutes: float, every_s: float) -> int:
    """Run the soak; returns the process exit code (0 when every invariant held)."""
    from churns_gql.cli import migrate

    work = Path(tempfile.mkdtemp(prefix="churns-soak-"))
    data_dir = work / "data"
    tmpfs = _mount_tmpfs(data_dir, 400)
    pg, redis = ThrowawayPostgres(), ThrowawayRedis()
    await asyncio.to_thread(pg.init)
    await asyncio.to_thread(pg.start)
    redis.start()
    stack = Stack(pg=pg, redis=redis, data_dir=data_dir, tmpfs=tmpfs)
    tally = Tally()
    try:
        await asyncio.to_thread(migrate, stack.database_url)
        await asyncio.to_thread(stack.start_api)
        stack.start_worker()
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=20) as http:
            load = Load(http, stack.base_url, tally, png)
            tasks = [asyncio.create_task(load.run(stop)), asyncio.create_task(chaos(stack, tally, stop, every_s))]
            await asyncio.sleep(minutes * 60)
            stop.set()
            await asyncio.gather(*tasks)
            # Everything is back up; give the reaper time to finish what the faults interrupted.
            if stack.worker is None or stack.worker.poll() is not None:
                stack.start_worker()
            results = await check_invariants(stack, load, tally)
    finally:
        stack.stop_all()
        redis.stop() if redis.proc else None
        await asyncio.to_thread(pg.destroy)
        if tmpfs:
            subprocess.run(["umount", "-l", str(data_dir)], capture_output=True)
    print(tally.table(results, minutes, tmpfs))
    print(f"logs: {stack.logs}")
    return 0 if all(ok for ok, _detail in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the soak."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("CHURNS_SOAK_MINUTES", "10")))
    parser.add_argument("--fault-every", type=float, default=15.0, help="seconds between faults")
    args = parser.parse_args(argv)
    return asyncio.run(soak(args.minutes, args.fault_every))


if __name__ == "__main__":
    sys.exit(main())
