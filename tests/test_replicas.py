"""Two API processes and two workers on one Postgres, one Redis and shared storage (a folder, then a bucket).

A subscription on API A sees every event of every job, whichever worker ran it; both APIs serve the files
and refinements.json; kill -9 of one worker and one API mid-way loses no job.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from PIL import Image as PILImage
from sqlalchemy import func, select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement, StageEvent
from tests.conftest import ROOT, GraphQLClient, WSClient, import_images, refine
from tests.s3_server import new_bucket, s3_env

JOBS = 10
PROGRESS = "subscription($id: ID!) { runProgress(id: $id) { seq jobId stage status terminal } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _noise_png(size: int = 768) -> bytes:
    out = io.BytesIO()
    PILImage.effect_noise((size, size), 60).convert("RGB").save(out, format="PNG")
    return out.getvalue()


class Cluster:
    """The four processes, their logs, and kill -9 for any of them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, {}  # type: ignore[var-annotated]
        self.ports = {"api_a": _free_port(), "api_b": _free_port()}
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, name: str) -> None:
        """Start one process: api_a / api_b (serve on its port) or worker_1 / worker_2."""
        args = (
            ["serve", "--host", "127.0.0.1", "--port", str(self.ports[name])] if name.startswith("api") else ["worker"]
        )
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the process writes to it until it stops
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "churns_gql.cli", *args, cwd=ROOT, env=self.env, stdout=log, stderr=log
        )

    def url(self, name: str) -> str:
        """Base URL of an API process."""
        return f"http://127.0.0.1:{self.ports[name]}"

    async def wait_ready(self, name: str) -> None:
        """Until the API answers /healthz."""
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{self.url(name)}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{name} did not start: {self.log_tail(name)}")

    def kill(self, name: str) -> None:
        """kill -9."""
        self.procs[name].send_signal(signal.SIGKILL)

    def log_tail(self, name: str) -> str:
        """The end of a process's log, for failure messages."""
        return (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]

    async def stop(self) -> None:
        """Stop whatever still runs."""
        for task in self.tasks:
            task.cancel()
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _statuses(services: Any) -> Counter[JobStatus]:
    async with services.db() as session:
        return Counter(
            dict(list(await session.execute(select(Refinement.status, func.count()).group_by(Refinement.status))))
        )


async def _index_ids(http: httpx.AsyncClient, run_uuid: str, at_least: int = 0) -> set[str]:
    """Job ids in refinements.json as an API serves it, once it holds `at_least` (it is written after the commit)."""
    for _ in range(100):
        got = await http.get(f"/files/runs/{run_uuid}/refinements.json")
        assert got.status_code in (200, 404), got.text
        ids = {e["job_id"] for e in got.json()["refinements"]} if got.status_code == 200 else set()
        if got.status_code == 200 and len(ids) >= at_least:
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"refinements.json never held {at_least} entries: {got.status_code} {got.text[:200]}")


async def _two_replicas(services: Any, settings: Any, tmp_path: Path, storage_env: dict[str, str]) -> None:
    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": settings.database_url,
        "CHURNS_REDIS_URL": settings.redis_url,
        "CHURNS_DATA_DIR": str(settings.data_dir),
        "CHURNS_PROVIDER": "local",
        "CHURNS_RATE_LIMIT_PER_MINUTE": "0",
        "CHURNS_MAX_ACTIVE_JOBS_PER_TOKEN": "0",
        "CHURNS_WEB_DIR": str(tmp_path / "no-web"),
        **storage_env,
    }
    env.pop("OPENAI_API_KEY", None)
    cluster = Cluster(env, tmp_path)
    try:
        for name in ("api_a", "api_b", "worker_1", "worker_2"):
            await cluster.start(name)
        await cluster.wait_ready("api_a")
        await cluster.wait_ready("api_b")
        # No kept-alive connections: the servers close idle ones after 5 s, and a request sent on one as it
        # closes fails in the client, not in the server under test.
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with (
            httpx.AsyncClient(base_url=cluster.url("api_a"), timeout=30, limits=fresh) as http_a,
            httpx.AsyncClient(base_url=cluster.url("api_b"), timeout=30, limits=fresh) as http_b,
            WSClient(cluster.url("api_a")) as ws,
        ):
            a, b = GraphQLClient(http_a), GraphQLClient(http_b)
            run = (await import_images(b, [_noise_png()]))["run"]
            run_uuid = str(decode_id(run["id"])[1])
            await ws.subscribe("p", PROGRESS, {"id": run["id"]})
            await asyncio.sleep(0.5)  # the subscription is live (LISTEN registered) before the first job starts
            parent = run["images"][0]["id"]
            ids = [
                (await refine(a if i % 2 else b, parent, prompt="warmer, more contrast and sharpen"))["refinement"][
                    "id"
                ]
                for i in range(JOBS)
            ]
            job_uuids = {str(decode_id(i)[1]) for i in ids}
            seen: list[dict[str, Any]] = []

            async def listen() -> None:
                while {decode_id(e["jobId"])[1] for e in seen if e["terminal"]} != {decode_id(i)[1] for i in ids}:
                    message = await ws.receive(timeout=90)
                    assert message["type"] == "next", message
                    seen.append(message["payload"]["data"]["runProgress"])

            listener = asyncio.create_task(listen())
            cluster.tasks.append(listener)
            for _ in range(600):  # mid-way: some done, some not
                counts = await _statuses(services)
                if counts[JobStatus.COMPLETED] >= 2:
                    break
                await asyncio.sleep(0.05)
            assert JobStatus.COMPLETED in counts and counts[JobStatus.COMPLETED] < JOBS, counts
            # Both APIs serve the shared files and index while both run.
            indexed_a, indexed_b = await _index_ids(http_a, run_uuid, 1), await _index_ids(http_b, run_uuid, 1)
            assert indexed_a <= job_uuids and indexed_b <= job_uuids
            original = run["images"][0]["url"]
            assert (await http_a.get(original)).content == (await http_b.get(original)).content
            cluster.kill("worker_1")
            cluster.kill("api_b")
            for _ in range(900):
                counts = await _statuses(services)
                if sum(n for s, n in counts.items() if s.is_terminal) == JOBS:
                    break
                await asyncio.sleep(0.1)
            assert counts == {JobStatus.COMPLETED: JOBS}, (counts, cluster.log_tail("worker_2"))
            await asyncio.wait_for(listener, 60)
            assert await _index_ids(http_a, run_uuid, JOBS) == job_uuids
            async with services.db() as session:
                stored = Counter(
                    str(j)
                    for j in await session.scalars(
                        select(StageEvent.job_id).where(StageEvent.job_id.in_([decode_id(i)[1] for i in ids]))
                    )
                )
            # Every event of every job reached A's subscriber, whichever worker wrote it.
            assert Counter(str(decode_id(e["jobId"])[1]) for e in seen) == stored
            for job in job_uuids:
                result = await http_a.get(f"/files/runs/{run_uuid}/refinements/{job}_from_0.png")
                assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
            # Both workers ran jobs (arq logs each job it starts), so A's subscriber saw events from each.
            for name in ("worker_1", "worker_2"):
                assert ":run_refinement(" in (tmp_path / f"{name}.log").read_text(errors="replace"), name
    finally:
        await cluster.stop()


async def test_two_replicas_on_a_shared_folder(services, settings, tmp_path):
    await _two_replicas(services, settings, tmp_path, {})


async def test_two_replicas_on_a_bucket(services, settings, tmp_path, moto_endpoint):
    bucket = new_bucket(moto_endpoint)
    await _two_replicas(
        services, settings, tmp_path, {**s3_env(moto_endpoint), "CHURNS_STORAGE_URL": f"s3://{bucket}/churns"}
    )
