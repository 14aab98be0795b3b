"""The API's side of arq: job names, enqueueing, aborting and whether Redis answers.

Nothing here imports the pipeline or a provider: the API process needs only this module to queue work.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import abort_jobs_ss, default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

log = logging.getLogger("churns_gql.queue")

REFINE_JOB = "run_refinement"
GENERATE_JOB = "run_generation"
QUEUE_UNAVAILABLE = "the job queue (Redis) did not accept the job; try again once it is back"


# arq's enqueue_job in one round trip: it WATCHes the job key, asks EXISTS, then MULTI/EXEC (three round
# trips on a connection of its own); a script is atomic by itself. Same keys, payload and expiry as arq.
# The PUBLISH wakes idle workers now instead of at their next poll, in the same round trip; a worker that misses
# it (not subscribed yet, reconnecting) still finds the job by polling.
_ENQUEUE_LUA = """
if redis.call('exists', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('psetex', KEYS[1], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
redis.call('publish', ARGV[5], ARGV[4])
return 1
"""


def wake_channel(queue_name: str, database: int) -> str:
    """The pub/sub channel that announces a job enqueued on `queue_name` in Redis db `database`.

    Pub/sub ignores the db number, so it is part of the name: workers of another db are not woken for nothing.
    """
    return f"{queue_name}:wake:{database}"


class QueueUnavailable(Exception):
    """Redis could not be reached to enqueue or abort a job."""


def redis_settings(url: str) -> RedisSettings:
    """arq's connection settings for a Redis URL, failing fast instead of retrying for seconds."""
    return dataclasses.replace(RedisSettings.from_dsn(url), conn_timeout=2, conn_retries=1, conn_retry_delay=0)


async def redis_unreachable(url: str, timeout_s: float = 3) -> str | None:
    """Why Redis at `url` does not answer a PING, or None when it does."""
    redis = Redis.from_url(url, socket_connect_timeout=timeout_s)
    try:
        await asyncio.wait_for(redis.ping(), timeout=timeout_s)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    finally:
        await redis.aclose()
    return None


class JobQueue:
    """The API's handle on arq: connects on first use, so the API starts even while Redis is down."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._pool: ArqRedis | None = None
        self._enqueue_script: AsyncScript | None = None
        self._lock = asyncio.Lock()
        self._database = redis_settings(redis_url).database

    async def _get_pool(self) -> ArqRedis:
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(redis_settings(self.redis_url))
                self._enqueue_script = self._pool.register_script(_ENQUEUE_LUA)
            return self._pool

    async def enqueue(self, function: str, job_id: uuid.UUID) -> None:
        """Enqueue `function(job_id)` under the job's own id; an id already queued counts as done."""
        try:
            pool = await self._get_pool()
            assert self._enqueue_script is not None
            now = timestamp_ms()
            job = serialize_job(function, (str(job_id),), {}, None, now, serializer=pool.job_serializer)
            queue = pool.default_queue_name
            keys = [job_key_prefix + str(job_id), result_key_prefix + str(job_id), queue]
            wake = wake_channel(queue, self._database)
            # asyncio.timeout, not wait_for: no task of its own per enqueue.
            async with asyncio.timeout(5):
                await self._enqueue_script(keys, [pool.expires_extra_ms, job, now, str(job_id), wake])
        except (TimeoutError, RedisError, OSError) as exc:
            await self._reset()
            raise QueueUnavailable(str(exc)) from exc

    async def abort(self, job_id: uuid.UUID) -> None:
        """Ask the worker running `job_id` to cancel it (best effort: the worker also checks the row)."""
        try:
            pool = await self._get_pool()
            await asyncio.wait_for(pool.zadd(abort_jobs_ss, {str(job_id): timestamp_ms()}), timeout=5)
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("could not ask the worker to abort %s: %s", job_id, exc)
            await self._reset()

    async def depth(self) -> int:
        """Jobs waiting in arq's queue (not yet picked by a worker)."""
        pool = await self._get_pool()
        return int(await asyncio.wait_for(pool.zcard(default_queue_name), timeout=5))

    async def _reset(self) -> None:
        async with self._lock:
            pool, self._pool, self._enqueue_script = self._pool, None, None
        if pool is not None:
            with contextlib.suppress(RedisError, OSError):
                await pool.aclose()

    async def close(self) -> None:
        """Close the Redis connection."""
        await self._reset()
