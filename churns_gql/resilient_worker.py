"""An arq Worker that rides out Redis outages and starts a job as soon as it is enqueued.

arq's poll loop lets a Redis ConnectionError escape `main()`, which ends the process: a ten-second
Redis restart used to kill every worker (and the reaper running inside them) for good. Jobs already
running carry on through an outage; only picking new ones pauses.

arq finds new jobs only by polling, so a job waited up to a poll delay (half of it on average) before a worker
looked. The API's enqueue script also publishes on a wake-up channel (`queue.wake_channel`); an idle worker
subscribed to it polls at once. The poll stays the fallback: a wake-up that is lost (not subscribed yet, Redis
reconnecting) only means the job starts at the next poll, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from arq.connections import create_pool, log_redis_info
from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from arq.worker import logger as arq_logger
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from churns_gql.queue import wake_channel

log = logging.getLogger("churns_gql.worker")

# What a lost Redis raises through arq and redis-py. redis-py turns a connection lost during WATCH (arq watches
# a job's in-progress key before starting it) into a WatchError, which arq only catches around EXEC.
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, WatchError, ConnectionError, OSError, asyncio.TimeoutError)
# Backoff between attempts while Redis is away: quick at first, then every few seconds.
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0
# Errors this soon after Redis came back are stale pooled connections of the same outage.
AFTERSHOCK_S = 10.0
# While every job slot is taken there is nothing to pick, yet arq would still ask Redis for aborted jobs (a MULTI/EXEC
# round trip) on every 50 ms poll, each one taking the GIL from the running edits: a full worker looks that often.
FULL_POLL_S = 0.25
# arq asks Redis for aborted jobs (a MULTI/EXEC round trip) on every poll; this often is enough for a user's cancel to
# reach a running job quickly (it also stops at the job's next event regardless), and an idle worker polls cheaper.
ABORT_CHECK_S = 0.25
# A worker already running a job answers a wake-up this much later than an idle one, so that an idle worker, if
# there is one, starts the job (a burst still spreads over the workers); it would otherwise wait for its next poll.
BUSY_WAKE_S = 0.01


class ResilientWorker(Worker):
    """arq's Worker, with polling and start-up retried (backoff, one log line per outage) while Redis is down."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._outage_since: float | None = None
        self._recovered_at = float("-inf")
        self._quiet = False
        self._retry_s = FIRST_RETRY_S
        self.outages = 0
        self._full_polled_at = float("-inf")
        self._abort_checked_at = float("-inf")
        # Set by a wake-up (a job was enqueued) or by a job of this worker ending (a slot came free).
        self._wake = asyncio.Event()
        self._woken_at: float | None = None
        self._slot_freed = False
        self.wakeups = 0

    async def main(self) -> None:
        """Connect (retrying while Redis is down), then run arq's loop, woken early by enqueued jobs.

        arq's own `main` (0.28) with its `poll()` generator replaced by `_until_next_poll`: the same start-up, the
        same poll every `poll_delay_s`, and the same burst ending.
        """
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except OUTAGE_ERRORS as exc:
                await self._wait(exc)
        self._recovered()
        arq_logger.info("Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions))
        await log_redis_info(self.pool, arq_logger.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        listener = asyncio.create_task(self._listen_for_wakeups())
        try:
            loop = asyncio.get_running_loop()
            while True:
                began = loop.time()
                await self._poll_iteration()
                if self.burst and await self._burst_done():
                    return
                await self._until_next_poll(began + self.poll_delay_s)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _burst_done(self) -> bool:
        """arq's burst ending: once its job budget is used or the queue is empty, wait for the jobs and stop."""
        budget_used = 0 <= self.max_burst_jobs <= self._jobs_started()
        if not budget_used and await self.pool.zcard(self.queue_name) > 0:
            return False
        await asyncio.gather(*self.tasks.values())
        return True

    async def _until_next_poll(self, deadline: float) -> None:
        """Sleep until `deadline`, or less: at once when a slot came free or a job was enqueued and no job runs
        here, BUSY_WAKE_S after such a wake-up when some run, not at all earlier while every slot is taken."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            if self._slot_freed:
                break
            if self._woken_at is not None and self.job_counter < self.max_jobs:
                if self.job_counter == 0:
                    break
                deadline = min(deadline, self._woken_at + BUSY_WAKE_S)
                self._woken_at = None
                continue
            self._woken_at = None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
        self._slot_freed, self._woken_at = False, None
        self._wake.clear()

    async def _listen_for_wakeups(self) -> None:
        """Set the wake-up flag for every job enqueued on this worker's queue; resubscribe after a lost connection.

        Quiet about outages: the poll loop says when Redis is away, and polling covers what is missed meanwhile.
        """
        database = int(self.pool.connection_pool.connection_kwargs.get("db", 0))
        channel = wake_channel(self.queue_name, database)
        retry_s = FIRST_RETRY_S
        while True:
            pubsub = self.pool.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                retry_s = FIRST_RETRY_S
                while True:
                    if await pubsub.get_message(timeout=None) is not None:
                        self.wakeups += 1
                        self._woken_at = asyncio.get_running_loop().time()
                        self._wake.set()
            except (*OUTAGE_ERRORS, RedisError) as exc:
                log.debug("wake-up channel lost (%s); polling only until it is back", exc.__class__.__name__)
            except Exception:
                log.exception("wake-up listener failed; polling only until it is back")
            finally:
                with contextlib.suppress(*OUTAGE_ERRORS, RedisError):
                    await pubsub.aclose()
            await asyncio.sleep(retry_s)
            retry_s = min(MAX_RETRY_S, retry_s * 2)

    def _release_sem_dec_counter_on_complete(self) -> None:
        """arq's bookkeeping when a job ends, and a poll at once: the freed slot can take a queued job now."""
        super()._release_sem_dec_counter_on_complete()
        self._slot_freed = True
        self._wake.set()

    async def _poll_iteration(self) -> None:
        """One arq poll; a lost Redis pauses picking jobs instead of ending the worker."""
        if self._outage_since is not None:
            # A ping first: the end of an outage is noticed (and said) before jobs are picked again.
            try:
                await self.pool.ping()
            except OUTAGE_ERRORS as exc:
                await self._wait(exc)
                return
            self._recovered()
        if self.job_counter >= self.max_jobs:
            if time.monotonic() - self._full_polled_at < FULL_POLL_S:
                return
            self._full_polled_at = time.monotonic()
        try:
            await super()._poll_iteration()
        except OUTAGE_ERRORS as exc:
            await self._wait(exc)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start at most one of the queued jobs per poll, so a burst spreads over the idle workers.

        arq would take as many as there are free slots: with two workers polling, the first to look took a burst of
        two jobs and ran both while the other worker idled. One per 50 ms poll fills a worker's slots just as well.
        Jobs already running (here or in another worker) stay in the queue until they finish; arq checks each with
        three round trips on every poll, so they are left out first: this worker's own from memory, the others'
        with one MGET of their in-progress keys (one command, where a pipeline of EXISTS cost a command to pack and
        an answer to parse per queued job). arq still checks the one it starts, atomically.
        """
        candidates = [job_id for job_id in job_ids if job_id.decode() not in self.tasks]
        if len(candidates) > 1:
            running = await self.pool.mget([in_progress_key_prefix + job_id.decode() for job_id in candidates])
            candidates = [job_id for job_id, taken in zip(candidates, running, strict=True) if taken is None]
        before = self.job_counter
        for job_id in candidates:
            await super().start_jobs([job_id])
            if self.job_counter > before or self.job_counter >= self.max_jobs:
                return

    async def _cancel_aborted_jobs(self) -> None:
        """arq's check for jobs a user cancelled, at most every ABORT_CHECK_S rather than on every poll."""
        if time.monotonic() - self._abort_checked_at < ABORT_CHECK_S:
            return
        self._abort_checked_at = time.monotonic()
        await super()._cancel_aborted_jobs()

    async def _wait(self, exc: BaseException) -> None:
        """Log the outage once, then back off before the next attempt."""
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            # Pooled connections broken by the outage fail once more just after it: the same outage, not a new one.
            self._quiet = time.monotonic() - self._recovered_at < AFTERSHOCK_S
            if not self._quiet:
                self.outages += 1
                log.warning(
                    "Redis unreachable (%s): not picking jobs until it is back; running jobs go on",
                    exc.__class__.__name__,
                )
        await asyncio.sleep(self._retry_s)
        self._retry_s = min(MAX_RETRY_S, self._retry_s * 2)

    def _recovered(self) -> None:
        """Log the end of an outage."""
        if self._outage_since is not None:
            if not self._quiet:
                log.warning("Redis is back after %.0f s: picking jobs again", time.monotonic() - self._outage_since)
            self._outage_since = None
            self._recovered_at = time.monotonic()
            self._retry_s = FIRST_RETRY_S
