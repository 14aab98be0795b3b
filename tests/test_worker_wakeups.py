"""A job enqueued while a worker idles starts at once (a wake-up), not at the worker's next poll; polling still
finds every job whose wake-up was lost."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import create_pool
from arq.worker import func

from churns_gql import resilient_worker
from churns_gql.queue import JobQueue, redis_settings, wake_channel
from churns_gql.resilient_worker import ResilientWorker
from tests.conftest import TEST_REDIS_URL

JOB = "wake_test_job"
# Far longer than any wait below: a job that starts within these tests was not found by the regular poll.
LONG_POLL_S = 60.0


@contextlib.asynccontextmanager
async def _worker(poll_delay: float, **overrides: Any) -> AsyncIterator[tuple[ResilientWorker, asyncio.Queue[str]]]:
    """A running worker (not burst) whose one job function reports its argument on the queue it yields."""
    started: asyncio.Queue[str] = asyncio.Queue()

    async def job(ctx: dict[str, Any], job_id: str) -> None:
        """Report that the job started."""
        started.put_nowait(job_id)

    pool = await create_pool(redis_settings(TEST_REDIS_URL))
    await pool.flushdb()
    worker = ResilientWorker(
        functions=[func(job, name=JOB)],  # type: ignore[arg-type]
        redis_settings=redis_settings(TEST_REDIS_URL),
        poll_delay=poll_delay,
        handle_signals=False,
        max_jobs=2,
        **overrides,
    )
    task = asyncio.create_task(worker.main())
    try:
        yield worker, started
    finally:
        # The jobs end by themselves (arq records their results); only the poll loop is stopped.
        await asyncio.wait_for(asyncio.gather(*worker.tasks.values(), return_exceptions=True), timeout=10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()
        await pool.flushdb()
        await pool.aclose()


async def _subscribed(channel: str, timeout_s: float = 10) -> None:
    """Wait until someone listens on `channel` (the worker's listener has subscribed)."""
    pool = await create_pool(redis_settings(TEST_REDIS_URL))
    try:
        deadline = time.monotonic() + timeout_s
        while dict(await pool.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
            assert time.monotonic() < deadline, "the worker never subscribed to its wake-up channel"
            await asyncio.sleep(0.02)
    finally:
        await pool.aclose()


def _channel() -> str:
    """The wake-up channel of the test queue and Redis db."""
    settings = redis_settings(TEST_REDIS_URL)
    return wake_channel("arq:queue", settings.database)


async def _idle(worker: ResilientWorker) -> None:
    """Let the worker finish its first poll and go to sleep until the next."""
    await _subscribed(_channel())
    await asyncio.sleep(0.2)
    assert worker.job_counter == 0


async def test_a_job_enqueued_while_the_worker_idles_starts_before_its_next_poll():
    """Regression (bench P6): the job waited for arq's next poll, 25 ms on average with a 50 ms poll delay."""
    queue = JobQueue(TEST_REDIS_URL)
    async with _worker(LONG_POLL_S) as (worker, started):
        await _idle(worker)
        for _ in range(3):
            job_id = uuid.uuid4()
            await queue.enqueue(JOB, job_id)
            assert await asyncio.wait_for(started.get(), timeout=10) == str(job_id)
            # The job's end frees its slot; let that poll pass so that the next enqueue finds the worker idle.
            await asyncio.sleep(0.1)
        assert worker.wakeups >= 3
    await queue.close()


async def test_a_lost_wake_up_still_runs_the_job_by_polling(monkeypatch):
    """No wake-up reaches the worker (never subscribed, as while its channel reconnects): the poll finds the job."""

    async def deaf(self: ResilientWorker) -> None:
        """A listener that never hears anything."""
        await asyncio.Event().wait()

    monkeypatch.setattr(ResilientWorker, "_listen_for_wakeups", deaf)
    queue = JobQueue(TEST_REDIS_URL)
    async with _worker(0.3) as (worker, started):
        await asyncio.sleep(0.1)
        job_id = uuid.uuid4()
        await queue.enqueue(JOB, job_id)
        assert await asyncio.wait_for(started.get(), timeout=10) == str(job_id)
        assert worker.wakeups == 0
    await queue.close()


async def test_the_wake_up_listener_resubscribes_after_losing_its_connection(monkeypatch):
    """Redis drops the subscriber's connection: the listener comes back, and wake-ups work again."""
    monkeypatch.setattr(resilient_worker, "FIRST_RETRY_S", 0.05)
    queue = JobQueue(TEST_REDIS_URL)
    async with _worker(LONG_POLL_S) as (worker, started):
        await _idle(worker)
        admin = await create_pool(redis_settings(TEST_REDIS_URL))
        try:
            database = redis_settings(TEST_REDIS_URL).database
            clients = await admin.client_list(_type="pubsub")
            ours = [c["id"] for c in clients if int(c.get("db", -1)) == database and int(c.get("sub", 0)) > 0]
            assert ours, clients
            for client_id in ours:
                await admin.client_kill_filter(_id=client_id)
        finally:
            await admin.aclose()
        await asyncio.sleep(0.1)
        await _idle(worker)
        job_id = uuid.uuid4()
        await queue.enqueue(JOB, job_id)
        assert await asyncio.wait_for(started.get(), timeout=10) == str(job_id)
    await queue.close()


@pytest.mark.parametrize(
    ("running", "woken", "freed", "sleeps"),
    [
        (0, True, False, "none"),  # idle and woken: poll now
        (1, True, False, "grace"),  # a job runs: an idle worker elsewhere goes first
        (2, True, False, "full"),  # every slot taken: nothing to start, wait for the poll
        (2, False, True, "none"),  # a slot came free: poll now for a queued job
        (0, False, False, "full"),  # nothing happened: the regular poll
    ],
)
async def test_when_the_next_poll_comes(running: int, woken: bool, freed: bool, sleeps: str):
    """The wait before the next poll, by what woke the worker and how many of its slots are taken."""
    worker = ResilientWorker(functions=[func(_noop, name=JOB)], burst=True, max_jobs=2, poll_delay=LONG_POLL_S)
    worker.job_counter = running
    loop = asyncio.get_running_loop()
    if woken:
        worker._woken_at = loop.time()
        worker._wake.set()
    if freed:
        worker._slot_freed = True
        worker._wake.set()
    began = loop.time()
    deadline = began + 1.0
    await worker._until_next_poll(deadline)
    waited = loop.time() - began
    if sleeps == "none":
        assert waited < 0.5
    elif sleeps == "grace":
        assert resilient_worker.BUSY_WAKE_S * 0.9 <= waited < 0.5
    else:
        assert waited >= 0.99
    assert not worker._wake.is_set() and not worker._slot_freed and worker._woken_at is None


async def _noop(ctx: dict[str, Any]) -> None:
    """A job these tests never run."""
