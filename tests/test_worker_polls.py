"""A worker whose every job slot is taken polls Redis a few times a second, not on every 50 ms tick."""

from __future__ import annotations

import asyncio
import time

from arq.connections import RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import Worker

from churns_gql import resilient_worker
from churns_gql.resilient_worker import ResilientWorker
from churns_gql.worker import POLL_DELAY_S
from tests.conftest import TEST_REDIS_URL


async def _job(ctx: dict) -> None:
    """A job the worker never starts."""


async def _polls_in(worker: ResilientWorker, seconds: float) -> None:
    """Run the worker's poll on arq's 50 ms tick for `seconds`."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        await worker._poll_iteration()
        await asyncio.sleep(POLL_DELAY_S)


async def test_a_full_worker_skips_most_polls_and_a_free_one_polls_every_tick(monkeypatch):
    reached: list[int] = []

    async def arq_poll(self) -> None:
        """arq's poll: a Redis round trip for aborted jobs at least, whether or not a slot is free."""
        reached.append(self.job_counter)

    monkeypatch.setattr(Worker, "_poll_iteration", arq_poll)
    worker = ResilientWorker(functions=[_job], burst=True, max_jobs=2, poll_delay=POLL_DELAY_S)
    worker.job_counter = 2  # both slots busy with edits
    await _polls_in(worker, 1.0)
    # Still looks now and then (a user's cancel aborts the job), but not 20 times a second.
    assert 1 <= len(reached) <= 1 / resilient_worker.FULL_POLL_S + 1, reached
    reached.clear()
    worker.job_counter = 1  # a slot came free: every tick looks for work again
    for _ in range(5):
        await worker._poll_iteration()
    assert reached == [1] * 5


async def test_the_abort_check_runs_a_few_times_a_second_not_on_every_poll(monkeypatch):
    """arq's MULTI/EXEC for cancelled jobs ran on each 50 ms poll, also on an idle worker; 4 a second do."""
    checks: list[float] = []

    async def arq_check(self) -> None:
        checks.append(time.monotonic())

    monkeypatch.setattr(Worker, "_cancel_aborted_jobs", arq_check)
    worker = ResilientWorker(functions=[_job], burst=True, max_jobs=2, poll_delay=POLL_DELAY_S)
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        await worker._cancel_aborted_jobs()
        await asyncio.sleep(POLL_DELAY_S)
    assert 1 <= len(checks) <= 1 / resilient_worker.ABORT_CHECK_S + 1, checks


async def test_a_poll_starts_one_queued_job_so_a_burst_spreads_over_workers(monkeypatch):
    """With free slots arq started every queued job it saw: the first worker to poll took a burst of two and ran
    them in turn while a second worker idled. One per poll leaves the next job to whichever worker looks next;
    jobs already running (another worker's, by their in-progress key, or this one's) are not even tried."""
    started: list[bytes] = []
    tried: list[list[bytes]] = []

    async def arq_start(self, job_ids: list[bytes]) -> None:
        tried.append(list(job_ids))
        for job_id in job_ids:
            started.append(job_id)
            self.job_counter += 1

    monkeypatch.setattr(Worker, "start_jobs", arq_start)
    pool = await create_pool(RedisSettings.from_dsn(TEST_REDIS_URL))
    await pool.flushdb()
    await pool.set(in_progress_key_prefix + "elsewhere", b"1")
    worker = ResilientWorker(functions=[_job], burst=True, max_jobs=4, poll_delay=POLL_DELAY_S, redis_pool=pool)
    worker.tasks["mine"] = asyncio.get_running_loop().create_future()
    try:
        await worker.start_jobs([b"mine", b"elsewhere", b"a", b"b"])
        assert started == [b"a"] and tried == [[b"a"]]
        await worker.start_jobs([b"mine", b"elsewhere", b"b"])
        assert started == [b"a", b"b"] and worker.job_counter == 2
    finally:
        await pool.flushdb()
        await pool.aclose()
