"""The arq worker: the job functions, the reaper cron and the one WorkerSettings builder.

The CLI and the tests build their worker with `worker_settings`, so both run the same functions,
the same reaper cron and the same poll delay; settings are passed in, never read at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from churns_gql import worker_metrics
from churns_gql.config import Settings
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.models import JobStatus, Refinement, Run
from churns_gql.pipeline.context import GenerationState, JobCancelled, PipelineContext, StageFailed, WorkerServices
from churns_gql.pipeline.executor import PipelineExecutor
from churns_gql.providers import make_editor, make_generation_provider
from churns_gql.queue import GENERATE_JOB, REFINE_JOB
from churns_gql.reaper import JobKind, heartbeat, reap
from churns_gql.resilient_worker import ResilientWorker
from churns_gql.services import fsck, lifecycle, runs
from churns_gql.services.refinements import parent_file, record_in_index
from churns_gql.services.uow import unit_of_work
from churns_gql.storage import RunStorage
from churns_gql.worker_metrics import TimedProvider

log = logging.getLogger("churns_gql.worker")


async def _cleanup(ctx: PipelineContext) -> None:
    # The job ended without completing: no committed row points at what it wrote.
    await ctx.files.discard()


def _executor(services: WorkerServices, mode: str) -> PipelineExecutor:
    """The stage runner of one pipeline mode ("refinement" or "generation")."""
    return PipelineExecutor(mode, services.settings.configs_dir / "stage_order.yml")


async def _execute(ctx: PipelineContext, executor: PipelineExecutor, timeout_s: int) -> str:
    """Run a started job's stages; every way it can end leaves one terminal state and no stray files."""
    mode = executor.mode
    started = time.monotonic()
    outcome = "interrupted"
    try:
        outcome = await _run_stages(ctx, executor, started, timeout_s)
        return outcome
    finally:
        job_type = ctx.refinement.type.value.lower() if ctx.refinement is not None else mode
        worker_metrics.observe_job(job_type, outcome.lower(), time.monotonic() - started)


async def _run_stages(ctx: PipelineContext, executor: PipelineExecutor, started: float, timeout_s: int) -> str:
    """The stages of a started job, and the terminal status they leave."""
    services = ctx.services
    try:
        # The job's start wrote the first stage's RUNNING event.
        await executor.run(ctx, opened=True)
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
            await asyncio.shield(
                executor.fail(ctx, StageFailed(ctx.current_stage or "job", f"timed out after {minutes} min", "timeout"))
            )
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


@dataclass
class WorkerStats:
    """What a worker did besides jobs: arq counts the reaper's passes as completed jobs too."""

    reaper_passes: int = 0


async def reap_lost_jobs(worker_ctx: dict[str, Any]) -> str:
    """Cron: get jobs a crash or a lost Redis left behind moving again (or FAILED)."""
    services: WorkerServices = worker_ctx["services"]
    report = await reap(services.db, worker_ctx["redis"], job_kinds(services.settings))
    since = lifecycle.utcnow() - INDEX_WINDOW
    restored = await fsck.restore_recent_index_entries(services.db, services.storage, since)
    if restored:
        log.warning("restored %d refinements.json entries a failed write had lost: %s", len(restored), restored[:5])
    worker_ctx["stats"].reaper_passes += 1
    return f"revived {report.revived}, requeued {report.requeued}, failed {report.failed}, indexed {len(restored)}"


def job_kinds(settings: Settings) -> list[JobKind]:
    """The jobs the reaper watches."""
    return [
        JobKind(Refinement, REFINE_JOB, settings.refinement_timeout_s),
        JobKind(Run, GENERATE_JOB, settings.generation_timeout_s),
    ]


async def _refine(worker_ctx: dict[str, Any], refinement_id: str) -> str:
    services: WorkerServices = worker_ctx["services"]
    job_id = uuid.UUID(refinement_id)
    executor = _executor(services, "refinement")
    run, parent = None, None
    async with unit_of_work(services.db) as uow:
        row = await lifecycle.start_job(uow.session, Refinement, job_id, first_stage=executor.first_stage)
        if row is not None and not row.status.is_terminal:
            assert isinstance(row, Refinement)
            # The run and the parent, read once for the whole job (the stages take them from the context), in the
            # transaction that starts it.
            run = await runs.run_by_id(uow.session, row.run_id)
            parent = await parent_file(uow.session, row)
    if row is None:
        return "missing"
    if row.status.is_terminal:
        if row.status == JobStatus.COMPLETED:
            # The index write may have been lost with a previous worker; recording is idempotent.
            await record_in_index(services.db, services.storage, job_id)
        return row.status.value
    assert isinstance(row, Refinement) and run is not None
    ctx = PipelineContext(services=services, job_id=job_id, run=run, refinement=row, parent=parent)
    status = None
    try:
        status = await _execute(ctx, executor, services.settings.refinement_timeout_s)
        return status
    finally:
        if status != JobStatus.COMPLETED.value and (ctx.spent_usd or ctx.spend_unknown):
            # A cancelled (or failed) refinement was still billed for the calls it made; its cost says so.
            await asyncio.shield(_record_refinement_spend(services, ctx))


async def _generate(worker_ctx: dict[str, Any], run_id: str) -> str:
    services: WorkerServices = worker_ctx["services"]
    job_id = uuid.UUID(run_id)
    executor = _executor(services, "generation")
    async with unit_of_work(services.db) as uow:
        row = await lifecycle.start_job(uow.session, Run, job_id, first_stage=executor.first_stage)
    if row is None:
        return "missing"
    if row.status.is_terminal:
        return row.status.value
    assert isinstance(row, Run)
    if services.generator is None:
        services.generator = TimedProvider(make_generation_provider(services.settings))
    # A restarted job's row holds what the interrupted attempt spent (see _record_spent).
    state = GenerationState(
        provider=services.generator, inputs=dict(row.inputs), earlier_attempts_usd=row.generation_cost_usd or 0.0
    )
    ctx = PipelineContext(services=services, job_id=job_id, run=row, generation=state)
    status = None
    try:
        status = await _execute(ctx, executor, services.settings.generation_timeout_s)
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
    async with unit_of_work(services.db) as uow:
        await lifecycle.record_spent(uow.session, ctx.job_id, ctx.generation.total_cost)


async def _record_refinement_spend(services: WorkerServices, ctx: PipelineContext) -> None:
    """Store what a refinement that did not complete spent (None when a call may have been billed unreported)."""
    async with unit_of_work(services.db) as uow:
        await lifecycle.record_refinement_spend(uow.session, ctx.job_id, ctx.spent_cost())


async def _status(services: WorkerServices, model: type[Refinement] | type[Run], job_id: uuid.UUID) -> JobStatus | None:
    """The job's status as its row says now, or None if the row is gone."""
    async with services.db() as session:
        return await lifecycle.job_status(session, model, job_id)


def worker_services(settings: Settings) -> WorkerServices:
    """Services for a worker process: its own engine, storage and the configured provider."""
    engine = make_engine(settings.database_url)
    return WorkerServices(
        settings=settings,
        db=make_sessionmaker(engine),
        storage=RunStorage.from_url(settings.storage_url, settings.data_dir),
        editor=TimedProvider(make_editor(settings)),
        generator=TimedProvider(make_generation_provider(settings)),
    )


def functions(settings: Settings) -> list[Any]:
    """The job functions with their time budgets."""
    return [
        # arq types job functions as (ctx, *args); ours name their one argument.
        func(run_refinement, name=REFINE_JOB, timeout=settings.refinement_timeout_s, max_tries=3),  # type: ignore[arg-type]
        func(run_generation, name=GENERATE_JOB, timeout=settings.generation_timeout_s, max_tries=3),  # type: ignore[arg-type]
    ]


# arq's default half-second poll is most of an offline refinement's latency; Redis shrugs at 20/s.
# The reaper restores index entries of completions this recent; older ones are `churns-gql fsck --repair`'s.
INDEX_WINDOW = timedelta(minutes=15)
POLL_DELAY_S = 0.05
MAX_JOBS = 4
# The offline provider's jobs are pixel work that takes turns on the process's image lane: one job editing and one
# loading or saving beside it keep the lane busy, and a job a worker does not hold yet can go to an idle worker.
OFFLINE_MAX_JOBS = 2


def worker_settings(settings: Settings, services: WorkerServices | None = None) -> dict[str, Any]:
    """arq Worker options for `settings`; without `services` the worker makes its own at startup.

    `churns-gql worker` runs exactly these; tests pass their own services (shared engine, offline provider).
    """
    options: dict[str, Any] = {
        "functions": functions(settings),
        # arq types job functions as (ctx, *args): see functions().
        "cron_jobs": [
            cron(
                reap_lost_jobs,  # type: ignore[arg-type]
                name="reap_lost_jobs",
                second={0, 15, 30, 45},
                run_at_startup=True,
                unique=True,
                timeout=60,
            )
        ],
        # The long-running worker keeps arq's patient reconnects; only the API fails fast.
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "ctx": {"stats": WorkerStats()},
        "allow_abort_jobs": True,
        "max_jobs": MAX_JOBS if settings.provider_name == "openai" else OFFLINE_MAX_JOBS,
        "keep_result": 3600,
        "poll_delay": POLL_DELAY_S,
    }
    if services is not None:
        options["ctx"]["services"] = services
        return options

    async def startup(ctx: dict[str, Any]) -> None:
        """Make this process's engine, storage and providers."""
        ctx["services"] = worker_services(settings)
        worker_metrics.serve_metrics(settings.worker_metrics_port, settings.host)
        log.info("worker started with the %s provider", ctx["services"].editor.name)
        warm_up = getattr(ctx["services"].editor, "warm_up", None)
        if warm_up is not None:
            # Model loading (OCR: about a second) happens beside the first polls, not in the first job.
            ctx["warm_up"] = asyncio.create_task(asyncio.to_thread(warm_up))

    async def shutdown(ctx: dict[str, Any]) -> None:
        """Close the engine startup made."""
        made: WorkerServices | None = ctx.get("services")
        if made is not None:
            await made.db.kw["bind"].dispose()

    options.update(on_startup=startup, on_shutdown=shutdown)
    return options


def make_worker(services: WorkerServices, **overrides: Any) -> Worker:
    """A worker in this process over existing services (tests pass burst=True); signals stay with the caller."""
    return ResilientWorker(**{**worker_settings(services.settings, services), "handle_signals": False, **overrides})


def pipeline_jobs_done(worker: Worker) -> int:
    """How many pipeline jobs `worker` completed, not counting the reaper's passes."""
    return worker.jobs_complete - worker.ctx["stats"].reaper_passes
