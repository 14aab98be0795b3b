"""The reaper: finds jobs a crash or a lost Redis left behind, and gets each to a terminal state.

It runs in every worker (an arq cron) and is idempotent: transitions lock the job's row, and a
job re-enqueued under its own id cannot be queued twice.

- A running job holds a heartbeat key its worker refreshes. No heartbeat but arq's in-progress
  marker still there: the worker died (kill -9). The marker is removed so arq runs the job again
  at once, instead of after the whole time budget.
- QUEUED, or RUNNING, with no trace in arq at all (Redis restarted, enqueue lost): re-enqueued.
- RUNNING far past its time budget with nothing in arq: FAILED with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Union

from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix, result_key_prefix

from churns_gql.models import JobStatus, Refinement, Run
from churns_gql.services import lifecycle
from churns_gql.services.uow import unit_of_work

log = logging.getLogger("churns_gql.reaper")

HEARTBEAT_PREFIX = "churns:heartbeat:"
HEARTBEAT_TTL_S = 10
HEARTBEAT_EVERY_S = 3
QUEUED_GRACE_S = 20
"""A QUEUED row younger than this may still be on its way into Redis; leave it alone."""

JobModel = Union[type[Refinement], type[Run]]


@dataclass(frozen=True)
class JobKind:
    """A kind of job the reaper watches: its table, its arq function and its time budget."""

    model: JobModel
    function: str
    timeout_s: int


@contextlib.asynccontextmanager
async def heartbeat(redis: ArqRedis, job_id: uuid.UUID) -> AsyncIterator[None]:
    """Keep this job's heartbeat key alive while the body runs."""
    key = f"{HEARTBEAT_PREFIX}{job_id}"

    async def beat() -> None:
        # The key was just set below: the first refresh is due a period from now, not at once.
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            with contextlib.suppress(Exception):
                await redis.set(key, b"1", ex=HEARTBEAT_TTL_S)

    await redis.set(key, b"1", ex=HEARTBEAT_TTL_S)
    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await asyncio.shield(redis.delete(key))


@dataclass
class ReapReport:
    """What one pass did, for logs and tests."""

    revived: int = 0
    requeued: int = 0
    failed: int = 0


async def _arq_state(redis: ArqRedis, job_id: str) -> tuple[bool, bool, bool]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zscore(default_queue_name, job_id)
        pipe.exists(job_key_prefix + job_id)
        pipe.exists(in_progress_key_prefix + job_id)
        score, has_job, in_progress = await pipe.execute()
    return score is not None, bool(has_job), bool(in_progress)


async def _claimed_long_ago(redis: ArqRedis, job_id: str, max_timeout_s: int) -> bool:
    """Whether a worker claimed the job longer ago than a live worker needs to start its heartbeat."""
    # arq sets the in-progress key with a TTL of (longest job timeout + 10 s): what is left tells its age.
    ttl_ms = await redis.pttl(in_progress_key_prefix + job_id)
    if ttl_ms is None or ttl_ms < 0:
        return True
    return (max_timeout_s + 10) * 1000 - ttl_ms > HEARTBEAT_TTL_S * 1000


async def _free_dead_claims(redis: ArqRedis, max_timeout_s: int) -> int:
    """Release every job a dead worker still holds, whatever its row says.

    Claims are looked at in Redis, not through the rows: a worker killed after committing COMPLETED
    but before writing refinements.json holds a job whose row is already terminal, and only running
    the job again (which is idempotent) writes the missing entry.
    """
    freed = 0
    async for raw in redis.scan_iter(match=f"{in_progress_key_prefix}*", count=500):
        key = raw.decode() if isinstance(raw, bytes) else raw
        job_id = key[len(in_progress_key_prefix) :]
        try:
            uuid.UUID(job_id)  # cron jobs hold claims too; they have no heartbeat and are not ours
        except ValueError:
            continue
        if await redis.exists(HEARTBEAT_PREFIX + job_id) or not await _claimed_long_ago(redis, job_id, max_timeout_s):
            continue
        # The worker died holding the job: free it for the next worker now, not after the time budget.
        await redis.delete(key)
        freed += 1
        log.warning("job %s lost its worker; handing it to the next one", job_id)
    return freed


async def reap(db: Any, redis: ArqRedis, kinds: list[JobKind], *, now_grace_s: int = QUEUED_GRACE_S) -> ReapReport:
    """One pass over every unfinished job of every kind."""
    report = ReapReport()
    now = lifecycle.utcnow()
    max_timeout_s = max(k.timeout_s for k in kinds)
    report.revived = await _free_dead_claims(redis, max_timeout_s)
    for kind in kinds:
        model = kind.model
        async with db() as session:
            rows = await lifecycle.unfinished_jobs(session, model)
        for job_id, status, created_at, started_at in rows:
            key = str(job_id)
            queued, has_job, in_progress = await _arq_state(redis, key)
            if queued or has_job or in_progress:
                continue
            age = now - (started_at or created_at)
            if status == JobStatus.QUEUED and age < timedelta(seconds=now_grace_s):
                continue
            if status == JobStatus.RUNNING and age > timedelta(seconds=kind.timeout_s * 3 + 60):
                async with unit_of_work(db) as uow:
                    await lifecycle.finish_job(
                        uow.session,
                        model,
                        job_id,
                        JobStatus.FAILED,
                        progress=0.0,
                        message="the job stopped with its worker and could not be resumed; try again",
                    )
                report.failed += 1
                continue
            # Redis lost the job (restart, failed enqueue): queue it again under its own id.
            await redis.delete(result_key_prefix + key)
            await redis.enqueue_job(kind.function, key, _job_id=key)
            report.requeued += 1
            log.warning("job %s had no trace in the queue; enqueued it again", key)
    return report
