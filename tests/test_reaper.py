"""The reaper: lost queue entries re-enqueued, dead workers' jobs freed, hopeless ones failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from arq import create_pool
from arq.constants import in_progress_key_prefix
from sqlalchemy import update

from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement
from churns_gql.queue import REFINE_JOB, redis_settings
from churns_gql.reaper import HEARTBEAT_PREFIX, JobKind, reap
from churns_gql.services import lifecycle
from churns_gql.services.uow import unit_of_work
from tests.conftest import import_images, png_bytes, refine, run_worker

KINDS = [JobKind(Refinement, REFINE_JOB, timeout_s=60)]


@pytest.fixture
async def redis(services):
    pool = await create_pool(redis_settings(services.settings.redis_url))
    yield pool
    await pool.aclose()


async def _queued(client) -> str:
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    return (await refine(client, parent, prompt="warmer"))["refinement"]["id"]


async def _status(services, gid):
    async with services.db() as session:
        return (await session.get(Refinement, decode_id(gid)[1])).status


async def _age(services, gid, seconds):
    async with services.db() as session:
        await session.execute(
            update(Refinement)
            .where(Refinement.id == decode_id(gid)[1])
            .values(
                created_at=lifecycle.utcnow() - timedelta(seconds=seconds),
                started_at=Refinement.started_at - timedelta(seconds=seconds),
            )
        )
        await session.commit()


async def test_a_queued_job_redis_lost_is_enqueued_again(client, services, worker_services, redis):
    gid = await _queued(client)
    await redis.flushdb()  # Redis restarted empty
    assert (await reap(services.db, redis, KINDS)).requeued == 0  # too young: may still be on its way
    await _age(services, gid, 60)
    assert (await reap(services.db, redis, KINDS)).requeued == 1
    assert (await reap(services.db, redis, KINDS)).requeued == 0  # idempotent: it is queued now
    await run_worker(worker_services)
    assert await _status(services, gid) == JobStatus.COMPLETED


async def test_a_running_job_whose_worker_died_is_freed(client, services, redis):
    gid = await _queued(client)
    job_id = str(decode_id(gid)[1])
    async with unit_of_work(services.db) as uow:
        await lifecycle.start_job(uow.session, Refinement, decode_id(gid)[1])
    # Claimed 30 s ago by arq's reckoning (its TTL is the longest timeout + 10 s).
    await redis.set(in_progress_key_prefix + job_id, b"1", px=(60 + 10 - 30) * 1000)
    await redis.set(HEARTBEAT_PREFIX + job_id, b"1", ex=10)
    report = await reap(services.db, redis, KINDS)
    assert report.revived == 0 and await redis.exists(in_progress_key_prefix + job_id)  # alive: left alone
    await redis.delete(HEARTBEAT_PREFIX + job_id)  # kill -9: nothing refreshes the heartbeat
    assert (await reap(services.db, redis, KINDS)).revived == 1
    assert not await redis.exists(in_progress_key_prefix + job_id)


async def test_running_long_past_its_budget_with_no_trace_fails(client, services, redis):
    gid = await _queued(client)
    async with unit_of_work(services.db) as uow:
        await lifecycle.start_job(uow.session, Refinement, decode_id(gid)[1])
    await redis.flushdb()
    await _age(services, gid, 3600)
    assert (await reap(services.db, redis, KINDS)).failed == 1
    data = (
        await client.data(
            "query($id: ID!) { refinement(id: $id) { status errorMessage events { terminal } } }", {"id": gid}
        )
    )["refinement"]
    assert data["status"] == "FAILED" and "try again" in data["errorMessage"]
    assert data["events"][-1]["terminal"]


async def test_a_job_claimed_by_a_worker_that_died_before_starting_it_is_freed(client, services, redis):
    gid = await _queued(client)  # still QUEUED: the worker died between arq's claim and our first step
    job_id = str(decode_id(gid)[1])
    await redis.set(in_progress_key_prefix + job_id, b"1", px=(60 + 10 - 2) * 1000)
    assert (await reap(services.db, redis, KINDS)).revived == 0  # just claimed: give it time to beat
    await redis.set(in_progress_key_prefix + job_id, b"1", px=(60 + 10 - 30) * 1000)
    assert (await reap(services.db, redis, KINDS)).revived == 1
    assert not await redis.exists(in_progress_key_prefix + job_id)


async def test_a_job_heartbeat_sets_its_key_once_at_the_start_then_every_period(monkeypatch):
    """The heartbeat set its key, then its refresher set it again at once: one Redis round trip per job for nothing."""
    import asyncio
    import uuid

    from churns_gql import reaper

    class Recorder:
        """Only what the heartbeat uses of arq's Redis client."""

        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        async def set(self, key: str, value: bytes, ex: int) -> None:
            self.calls.append(("set", key))

        async def delete(self, key: str) -> None:
            self.calls.append(("delete", key))

    monkeypatch.setattr(reaper, "HEARTBEAT_EVERY_S", 0.2)
    redis = Recorder()
    job_id = uuid.uuid4()
    key = f"{HEARTBEAT_PREFIX}{job_id}"
    async with reaper.heartbeat(redis, job_id):  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert redis.calls == [("set", key)]
        await asyncio.sleep(0.3)
        assert redis.calls == [("set", key), ("set", key)]
    assert redis.calls[-1] == ("delete", key)
