"""The API's enqueue: one Redis round trip, writing exactly what arq's own enqueue_job writes."""

from __future__ import annotations

import uuid

from arq.connections import create_pool
from arq.constants import default_queue_name, expires_extra_ms, job_key_prefix
from arq.jobs import Job, JobStatus
from redis.asyncio.connection import AbstractConnection

from churns_gql.queue import REFINE_JOB, redis_settings


async def test_enqueue_is_one_round_trip_and_arq_reads_the_job(services, monkeypatch):
    """Regression (bench P5): arq's enqueue_job took three round trips (WATCH, EXISTS, MULTI/EXEC)."""
    queue = services.queue
    await queue.enqueue(REFINE_JOB, uuid.uuid4())  # connects and loads the script
    sends = 0
    real_send = AbstractConnection.send_packed_command

    async def counting_send(self, command, check_health=True):
        nonlocal sends
        sends += 1
        return await real_send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    job_id = uuid.uuid4()
    await queue.enqueue(REFINE_JOB, job_id)
    assert sends == 1
    monkeypatch.undo()

    pool = await create_pool(redis_settings(services.settings.redis_url))
    try:
        job = Job(str(job_id), pool)
        assert await job.status() == JobStatus.queued
        info = await job.info()
        assert info is not None and info.function == REFINE_JOB and info.args == (str(job_id),)
        # Due now: the queue's score is the enqueue time in ms, as arq writes it.
        assert abs(info.score - info.enqueue_time.timestamp() * 1000) < 2
        ttl_ms = await pool.pttl(job_key_prefix + str(job_id))
        assert expires_extra_ms - 60_000 < ttl_ms <= expires_extra_ms
        # An id already queued counts as done: nothing is written twice.
        await queue.enqueue(REFINE_JOB, job_id)
        assert await pool.zcard(default_queue_name) == 2
        # arq's own enqueue agrees that the job exists.
        assert await pool.enqueue_job(REFINE_JOB, str(job_id), _job_id=str(job_id)) is None
    finally:
        await pool.aclose()
