"""R3: Redis stops and comes back; refineImage says UNAVAILABLE meanwhile and nothing is left stuck."""

from __future__ import annotations

from dataclasses import replace

import pytest
from arq import create_pool
from sqlalchemy import select

from churns_gql.queue import JobQueue, redis_settings
from churns_gql.worker import job_kinds
from churns_gql.models import JobStatus, Refinement
from churns_gql.reaper import reap
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
    worker = replace(worker_services, settings=replace(worker_services.settings, redis_url=redis_server.url))
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]

    ok = await refine(client, parent, prompt="warmer")  # the queue connects while Redis is up
    redis_server.stop()
    down = await refine(client, parent, prompt="cooler")
    assert [e["code"] for e in down["userErrors"]] == ["UNAVAILABLE"] and down["refinement"]["status"] == "FAILED"
    redis_server.start()  # a fresh, empty Redis: the first job is lost with the old one
    back = await refine(client, parent, prompt="brighter")
    assert back["userErrors"] == [] and back["refinement"]["status"] == "QUEUED"
    await run_worker(worker)
    assert await _statuses(services) == {"warmer": JobStatus.QUEUED, "cooler": JobStatus.FAILED,
                                         "brighter": JobStatus.COMPLETED}

    # The reaper finds the row whose job died with the old Redis and queues it again.
    pool = await create_pool(redis_settings(redis_server.url))
    try:
        report = await reap(services.db, pool, job_kinds(services.settings), now_grace_s=0)
    finally:
        await pool.aclose()
    assert report.requeued == 1 and ok["refinement"]["status"] == "QUEUED"
    await run_worker(worker)
    assert await _statuses(services) == {"warmer": JobStatus.COMPLETED, "cooler": JobStatus.FAILED,
                                         "brighter": JobStatus.COMPLETED}


async def _statuses(services) -> dict[str, JobStatus]:
    async with services.db() as session:
        return {r.prompt: r.status for r in (await session.scalars(select(Refinement))).all()}
