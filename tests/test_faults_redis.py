"""R3: Redis stops and comes back; refineImage says UNAVAILABLE meanwhile and nothing is left stuck."""

from __future__ import annotations

from dataclasses import replace

import pytest
from arq import create_pool
from sqlalchemy import select

from churns_gql.models import JobStatus, Refinement
from churns_gql.queue import JobQueue, redis_settings
from churns_gql.reaper import reap
from churns_gql.worker import job_kinds
from tests.conftest import import_images, png_bytes, refine, run_worker
from tests.faults import ThrowawayRedis


@pytest.fixture
def redis_server():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop() if server.proc else None


async def test_refine_while_redis_is_down_then_back(client, services, worker_services, redis_server):
    await services.queue.close()
    services.queue = JobQueue(redis_server.url)
    worker = replace(worker_services, settings=worker_services.settings.with_changes(redis_url=redis_server.url))
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]

    ok = await refine(client, parent, prompt="warmer")  # the queue connects while Redis is up
    redis_server.stop()
    down = await refine(client, parent, prompt="cooler")
    assert [e["code"] for e in down["userErrors"]] == ["UNAVAILABLE"] and down["refinement"]["status"] == "FAILED"
    redis_server.start()  # a fresh, empty Redis: the first job is lost with the old one
    back = await refine(client, parent, prompt="brighter")
    assert back["userErrors"] == [] and back["refinement"]["status"] == "QUEUED"
    await run_worker(worker)
    assert await _statuses(services) == {
        "warmer": JobStatus.QUEUED,
        "cooler": JobStatus.FAILED,
        "brighter": JobStatus.COMPLETED,
    }

    # The reaper finds the row whose job died with the old Redis and queues it again.
    pool = await create_pool(redis_settings(redis_server.url))
    try:
        report = await reap(services.db, pool, job_kinds(services.settings), now_grace_s=0)
    finally:
        await pool.aclose()
    assert report.requeued == 1 and ok["refinement"]["status"] == "QUEUED"
    await run_worker(worker)
    assert await _statuses(services) == {
        "warmer": JobStatus.COMPLETED,
        "cooler": JobStatus.FAILED,
        "brighter": JobStatus.COMPLETED,
    }


async def _statuses(services) -> dict[str, JobStatus]:
    async with services.db() as session:
        return {r.prompt: r.status for r in (await session.scalars(select(Refinement))).all()}


async def test_the_worker_process_rides_out_a_redis_outage(client, services, redis_server, tmp_path):
    """R3b: `churns-gql worker` with Redis gone for a few seconds logs it once, keeps running, then works again."""
    import asyncio
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    await services.queue.close()
    services.queue = JobQueue(redis_server.url)
    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": services.settings.database_url,
        "CHURNS_REDIS_URL": redis_server.url,
        "CHURNS_DATA_DIR": str(services.settings.data_dir),
        "CHURNS_PROVIDER": "local",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "churns_gql.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
        await refine(client, parent, prompt="warmer")
        await _until(services, {"warmer": JobStatus.COMPLETED})
        redis_server.stop()
        await asyncio.sleep(4)
        assert worker.poll() is None, log_path.read_text()[-2000:]
        redis_server.start()
        await services.queue.close()
        services.queue = JobQueue(redis_server.url)
        await refine(client, parent, prompt="cooler")
        await _until(services, {"warmer": JobStatus.COMPLETED, "cooler": JobStatus.COMPLETED})
        assert worker.poll() is None
        text = log_path.read_text()
        assert text.count("Redis unreachable") == 1 and "Redis is back after" in text, text[-3000:]
    finally:
        worker.terminate()
        worker.wait(15)


async def _until(services, expected: dict[str, JobStatus], timeout_s: float = 30) -> None:
    """Wait until the refinements have exactly the expected statuses."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while (current := await _statuses(services)) != expected:
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.2)


async def test_a_connection_lost_during_watch_is_an_outage_not_the_end_of_the_worker(monkeypatch):
    """redis-py reports a connection lost mid-WATCH as a WatchError: the worker waits it out like any outage."""
    from arq.worker import Worker
    from redis.exceptions import WatchError

    from churns_gql import resilient_worker
    from churns_gql.resilient_worker import ResilientWorker

    async def lost(self) -> None:
        """arq's poll, with Redis gone while a job's in-progress key is watched."""
        raise WatchError("A ConnectionError occurred on while watching one or more keys")

    async def job(ctx) -> None:
        """A job the worker never gets to start."""

    monkeypatch.setattr(Worker, "_poll_iteration", lost)
    monkeypatch.setattr(resilient_worker, "FIRST_RETRY_S", 0.01)
    worker = ResilientWorker(functions=[job], burst=True)
    await worker._poll_iteration()
    assert worker.outages == 1 and worker._outage_since is not None
