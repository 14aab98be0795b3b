"""arq: the job queue the API enqueues on, the worker's settings, and the job functions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from arq.cron import cron
from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import update

from churns_gql.config import Settings, get_settings
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.models import JobStatus, Refinement, Run
from churns_gql.pipeline.context import GenerationState, JobCancelled, PipelineContext, StageFailed, WorkerServices
from churns_gql.pipeline.executor import PipelineExecutor
from churns_gql.providers import make_editor, make_generation_provider
from churns_gql.reaper import JobKind, heartbeat, reap
from churns_gql.services import lifecycle
from churns_gql.services.refinements import record_in_index
from churns_gql.storage import RunStorage

log = logging.getLogger("churns_gql.jobs")

REFINE_JOB = "run_refinement"
GENERATE_JOB = "run_generation"
QUEUE_UNAVAILABLE = "the job queue (Redis) did not accept the job; try again once it is back"


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
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable, reported by name
        return f"{exc.__class__.__name__}: {exc}"
    finally:
        await redis.aclose()
    return None


class JobQueue:
    """The API's handle on arq: connects on first use, so the API starts even while Redis is down."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> ArqRedis:
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(redis_settings(self.redis_url))
            return self._pool

    async def enqueue(self, function: str, job_id: uuid.UUID) -> None:
        """Enqueue `function(job_id)` under the job's own id; an id already queued counts as done."""
        try:
            pool = await self._get_pool()
            await asyncio.wait_for(pool.enqueue_job(function, str(job_id), _job_id=str(job_id)), timeout=5)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            await self._reset()
            raise QueueUnavailable(str(exc)) from exc

    async def abort(self, job_id: uuid.UUID) -> None:
        """Ask the worker running `job_id` to cancel it (best effort: the worker also checks the row)."""
        try:
            pool = await self._get_pool()
            await asyncio.wait_for(pool.zadd(abort_jobs_ss, {str(job_id): timestamp_ms()}), timeout=5)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            log.warning("could not ask the worker to abort %s: %s", job_id, exc)
            await self._reset()

    async def _reset(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.aclose()
            except (RedisError, OSError):
                pass

    async def close(self) -> None:
        """Close the Redis connection."""
        await self._reset()


# -- the worker side ------------------------------------------------------------------------------


async def _cleanup(ctx: PipelineContext) -> None:
    for relative in ctx.cleanup_paths:
        await ctx.services.storage.delete(ctx.run.id, relative)


async def _execute(ctx: PipelineContext, mode: str, timeout_s: int) -> str:
    """Run a started job's stages; every way it can end leaves one terminal state and no stray files."""
    services = ctx.services
    executor = PipelineExecutor(mode, services.settings.configs_dir / "stage_order.yml")
    started = time.monotonic()
    try:
        await executor.run(ctx)
        return JobStatus.COMPLETED.value
    except StageFailed as failure:
        await executor.fail(ctx, failure)
        await _cleanup(ctx)
        return JobStatus.FAILED.value
    except JobCancelled:
        await _cleanup(ctx)
        return JobStatus.CANCELLED.value
    except asyncio.CancelledError:
        # arq cancels the task on abort (a user cancel), on timeout and on shutdown (then it retries).
        if time.monotonic() - started >= timeout_s - 1:
            minutes = max(1, round(timeout_s / 60))
            await asyncio.shield(executor.fail(ctx, StageFailed(ctx.current_stage or "job",
                                                                f"timed out after {minutes} min")))
        status = await asyncio.shield(_status(services, ctx.job_model, ctx.job_id))
        if status is not None and status != JobStatus.RUNNING and status != JobStatus.COMPLETED:
            await asyncio.shield(_cleanup(ctx))
        raise


def _heartbeat(worker_ctx: dict[str, Any], job_id: str) -> Any:
    # Started before the row says RUNNING, so the reaper never takes a live worker's job for a dead one's.
    redis = worker_ctx.get("redis")
    return heartbeat(redis, uuid.UUID(job_id)) if redis is not None else contextlib.nullcontext()


async def run_refinement(worker_ctx: dict[str, Any], refinement_id: str) -> str:
    """The refinement job: run the refinement pipeline once; safe to run again (arq may)."""
    async with _heartbeat(worker_ctx, refinement_id):
        return await _refine(worker_ctx, refinement_id)


async def run_generation(worker_ctx: dict[str, Any], run_id: str) -> str:
    """The generation job: run a run's seven stages once; safe to run again (arq may)."""
    async with _heartbeat(worker_ctx, run_id):
        return await _generate(worker_ctx, run_id)


async def reap_lost_jobs(worker_ctx: dict[str, Any]) -> str:
    """Cron: get jobs a crash or a lost Redis left behind moving again (or FAILED)."""
    services: WorkerServices = worker_ctx["services"]
    report = await reap(services.db, worker_ctx["redis"], job_kinds(services.settings))
    return f"revived {report.revived}, requeued {report.requeued}, failed {report.failed}"


def job_kinds(settings: Settings) -> list[JobKind]:
    """The jobs the reaper watches."""
    return [JobKind(Refinement, REFINE_JOB, settings.refinement_timeout_s),
            JobKind(Run, GENERATE_JOB, settings.generation_timeout_s)]


async def _refine(worker_ctx: dict[str, Any], refinement_id: str) -> str:
    services: WorkerServices = worker_ctx["services"]
    job_id = uuid.UUID(refinement_id)
    row = await lifecycle.start_job(services.db, Refinement, job_id)
    if row is None:
        return "missing"
    if row.status.is_terminal:
        if row.status == JobStatus.COMPLETED:
            # The index write may have been lost with a previous worker; recording is idempotent.
            await record_in_index(services.db, services.storage, job_id)
        return row.status.value
    async with services.db() as session:
        run = await session.get(Run, row.run_id)
    assert isinstance(row, Refinement) and run is not None
    ctx = PipelineContext(services=services, job_id=job_id, run=run, refinement=row)
    status = None
    try:
        status = await _execute(ctx, "refinement", services.settings.refinement_timeout_s)
        return status
    finally:
        if status != JobStatus.COMPLETED.value and (ctx.spent_usd or ctx.spend_unknown):
            # A cancelled (or failed) refinement was still billed for the calls it made; its cost says so.
            await asyncio.shield(lifecycle.record_spend(services.db, job_id, ctx.spent_cost()))


async def _generate(worker_ctx: dict[str, Any], run_id: str) -> str:
    services: WorkerServices = worker_ctx["services"]
    job_id = uuid.UUID(run_id)
    row = await lifecycle.start_job(services.db, Run, job_id)
    if row is None:
        return "missing"
    if row.status.is_terminal:
        return row.status.value
    assert isinstance(row, Run)
    if services.generator is None:
        services.generator = make_generation_provider(services.settings)
    # A restarted job's row holds what the interrupted attempt spent (see _record_spent).
    state = GenerationState(provider=services.generator, inputs=dict(row.inputs),
                            earlier_attempts_usd=row.generation_cost_usd or 0.0)
    ctx = PipelineContext(services=services, job_id=job_id, run=row, generation=state)
    status = None
    try:
        status = await _execute(ctx, "generation", services.settings.generation_timeout_s)
        return status
    finally:
        if status != JobStatus.COMPLETED.value:
            await asyncio.shield(_record_spent(services, ctx))


async def _record_spent(services: WorkerServices, ctx: PipelineContext) -> None:
    """Store what a generation that did not complete has cost so far."""
    # A run that did not complete was still billed for the calls it made; its cost says so.
    assert ctx.generation is not None
    if not ctx.generation.total_cost:
        return
    async with services.db() as session, session.begin():
        await session.execute(update(Run).where(Run.id == ctx.job_id, Run.status != JobStatus.COMPLETED)
                              .values(generation_cost_usd=ctx.generation.total_cost))


async def _status(services: WorkerServices, model: type[Refinement] | type[Run], job_id: uuid.UUID) -> JobStatus | None:
    """The job's status as its row says now, or None if the row is gone."""
    async with services.db() as session:
        row = await session.get(model, job_id)
        return row.status if row else None


def worker_services(settings: Settings) -> WorkerServices:
    """Services for a worker process: its own engine, storage and the configured provider."""
    engine = make_engine(settings.database_url)
    return WorkerServices(settings=settings, db=make_sessionmaker(engine), storage=RunStorage(settings.data_dir),
                          editor=make_editor(settings), generator=make_generation_provider(settings))


def functions(settings: Settings) -> list[Any]:
    """The job functions with their time budgets."""
    return [
        func(run_refinement, name=REFINE_JOB, timeout=settings.refinement_timeout_s, max_tries=3),
        func(run_generation, name=GENERATE_JOB, timeout=settings.generation_timeout_s, max_tries=3),
    ]


def make_worker(services: WorkerServices, **overrides: Any) -> Worker:
    """A worker over existing services; tests pass burst=True, poll_delay=0."""
    options: dict[str, Any] = {
        "functions": functions(services.settings),
        "redis_settings": redis_settings(services.settings.redis_url),
        "ctx": {"services": services},
        "allow_abort_jobs": True,
        "max_jobs": 4,
        "keep_result": 3600,
        "handle_signals": False,
    }
    options.update(overrides)
    return Worker(**options)


async def _startup(ctx: dict[str, Any]) -> None:
    ctx["services"] = worker_services(get_settings())
    log.info("worker started with the %s provider", ctx["services"].editor.name)


async def _shutdown(ctx: dict[str, Any]) -> None:
    services: WorkerServices | None = ctx.get("services")
    if services is not None:
        await services.db.kw["bind"].dispose()


class WorkerSettings:
    """Settings `churns-gql worker` runs arq with."""

    functions = functions(get_settings())
    # The long-running worker keeps arq's patient reconnects; only the API fails fast.
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url)
    on_startup = _startup
    on_shutdown = _shutdown
    allow_abort_jobs = True
    max_jobs = 4
    # arq's default half-second poll is most of an offline refinement's latency; Redis shrugs at 20/s.
    poll_delay = 0.05
    cron_jobs = [cron(reap_lost_jobs, name="reap_lost_jobs", second={0, 15, 30, 45}, run_at_startup=True,
                      unique=True, timeout=60)]
