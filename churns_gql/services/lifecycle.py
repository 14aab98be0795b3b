"""Job state transitions (QUEUED → RUNNING → terminal) for runs and refinements, each with its event.

Every transition locks the job's row, so the worker finishing a job and a user cancelling it never
both win: whoever changes the row first publishes the terminal event, and it stays the last event.
Each takes the caller's session and never commits: the caller's unit of work does (services.uow).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Union

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql import events
from churns_gql.models import JobStatus, Refinement, Run, StageEvent, StageStatus
from churns_gql.services.errors import UserInputError

JobModel = Union[type[Refinement], type[Run]]
JobRow = Union[Refinement, Run]

_TERMINAL_STAGE_STATUS = {
    JobStatus.COMPLETED: StageStatus.COMPLETED,
    JobStatus.FAILED: StageStatus.FAILED,
    JobStatus.CANCELLED: StageStatus.CANCELLED,
}


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def _run_id(row: JobRow) -> uuid.UUID:
    return row.id if isinstance(row, Run) else row.run_id


async def lock_job(session: AsyncSession, model: JobModel, job_id: uuid.UUID) -> JobRow | None:
    """The job's row, locked until the transaction ends."""
    row: JobRow | None = await session.scalar(select(model).where(model.id == job_id).with_for_update())
    return row


async def job_status(session: AsyncSession, model: JobModel, job_id: uuid.UUID) -> JobStatus | None:
    """The job's status as its row says now, or None if the row is gone."""
    return await session.scalar(select(model.status).where(model.id == job_id))


async def unfinished_jobs(session: AsyncSession, model: JobModel) -> list[Any]:
    """(id, status, created_at, started_at) of every QUEUED or RUNNING job of one kind."""
    return list(
        (
            await session.execute(
                select(model.id, model.status, model.created_at, model.started_at).where(
                    model.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            )
        ).all()
    )


async def record_spent(session: AsyncSession, run_id: uuid.UUID, cost_usd: float) -> None:
    """Store what a generation that has not completed has cost so far (a completed one keeps its own total)."""
    await session.execute(
        update(Run).where(Run.id == run_id, Run.status != JobStatus.COMPLETED).values(generation_cost_usd=cost_usd)
    )


async def last_progress(session: AsyncSession, job_id: uuid.UUID) -> float:
    """How far the job had got, by its events; a terminal event that is not success keeps this value."""
    value = await session.scalar(select(func.max(StageEvent.progress)).where(StageEvent.job_id == job_id))
    return float(value or 0.0)


async def publish_queued(session: AsyncSession, row: JobRow) -> None:
    """The first event of every job, written with the job's row."""
    await events.publish(
        session,
        job_id=row.id,
        run_id=_run_id(row),
        stage=events.JOB_STAGE,
        status=StageStatus.PENDING,
        progress=0.0,
        message="queued",
        first=True,
    )


async def start_job(
    session: AsyncSession, model: JobModel, job_id: uuid.UUID, *, first_stage: Callable[[JobRow], str] | None = None
) -> JobRow | None:
    """Move a QUEUED job to RUNNING (or note a restart of a RUNNING one); returns the row as it now is.

    With `first_stage` (the name of the job's first stage, given its row), that stage's RUNNING event follows in
    the same transaction: one BEGIN … COMMIT fewer per job than publishing it on its own.
    """
    row = await lock_job(session, model, job_id)
    if row is None or row.status.is_terminal:
        return row
    restarted = row.status == JobStatus.RUNNING
    row.status = JobStatus.RUNNING
    row.started_at = row.started_at or utcnow()
    await events.publish(
        session,
        job_id=row.id,
        run_id=_run_id(row),
        stage=events.JOB_STAGE,
        status=StageStatus.RUNNING,
        progress=0.0,
        message="restarted after an interruption" if restarted else "started",
    )
    if first_stage is not None:
        await events.publish(
            session,
            job_id=row.id,
            run_id=_run_id(row),
            stage=first_stage(row),
            status=StageStatus.RUNNING,
            progress=0.0,
            message="started",
        )
    return row


async def publish_if_running(
    session: AsyncSession, model: JobModel, job_id: uuid.UUID, *, then: Sequence[dict[str, Any]] = (), **event: Any
) -> bool:
    """Record a stage event, and the events `then` after it, unless the job stopped running (cancelled); False
    means stop working. A stage's COMPLETED and the next stage's RUNNING thus take one transaction, not two."""
    row = await lock_job(session, model, job_id)
    if row is None or row.status != JobStatus.RUNNING:
        return False
    for one in (event, *then):
        await events.publish(session, job_id=job_id, run_id=_run_id(row), **one)
    return True


async def finish_job(
    session: AsyncSession,
    model: JobModel,
    job_id: uuid.UUID,
    status: JobStatus,
    *,
    message: str | None,
    progress: float,
    code: str | None = None,
    fields: dict[str, Any] | None = None,
    stage_event: dict[str, Any] | None = None,
    writes: Sequence[Callable[[AsyncSession], Awaitable[None]]] = (),
) -> JobRow | None:
    """End a RUNNING job with `status`, its last stage event and the terminal event; None if it had ended.

    `writes` run inside the same transaction, so what they add exists exactly when the job has ended.
    """
    row = await lock_job(session, model, job_id)
    if row is None or row.status != JobStatus.RUNNING:
        return None
    for name, value in (fields or {}).items():
        setattr(row, name, value)
    for write in writes:
        await write(session)
    row.status = status
    row.completed_at = utcnow()
    if status == JobStatus.FAILED:
        row.error_message = message
    run_id = _run_id(row)
    if stage_event:
        await events.publish(session, job_id=job_id, run_id=run_id, **stage_event)
    await events.publish(
        session,
        job_id=job_id,
        run_id=run_id,
        stage=events.JOB_STAGE,
        status=_TERMINAL_STAGE_STATUS[status],
        progress=progress,
        message=message,
        code=code,
        terminal=True,
    )
    return row


async def fail_unstarted(session: AsyncSession, model: JobModel, job_id: uuid.UUID, message: str) -> None:
    """Mark a QUEUED job FAILED (its job could not be enqueued), with the terminal event."""
    row = await lock_job(session, model, job_id)
    if row is None or row.status != JobStatus.QUEUED:
        return
    row.status = JobStatus.FAILED
    row.error_message = message
    row.completed_at = utcnow()
    await events.publish(
        session,
        job_id=job_id,
        run_id=_run_id(row),
        stage=events.JOB_STAGE,
        status=StageStatus.FAILED,
        progress=0.0,
        message=message,
        terminal=True,
    )


async def cancel_job(session: AsyncSession, model: JobModel, job_id: uuid.UUID, label: str) -> tuple[JobRow, JobStatus]:
    """Cancel a QUEUED or RUNNING job; returns the row and the status it had. CONFLICT once finished."""
    row = await lock_job(session, model, job_id)
    if row is None:
        raise UserInputError.one("NOT_FOUND", f"no {label} with that id", "id")
    previous = row.status
    if previous.is_terminal:
        raise UserInputError.one("CONFLICT", f"the {label} is already {previous.value}", "id")
    row.status = JobStatus.CANCELLED
    row.completed_at = utcnow()
    await events.publish(
        session,
        job_id=job_id,
        run_id=_run_id(row),
        stage=events.JOB_STAGE,
        status=StageStatus.CANCELLED,
        progress=await last_progress(session, job_id),
        message="cancelled by request",
        terminal=True,
    )
    return row, previous


async def record_refinement_spend(session: AsyncSession, job_id: uuid.UUID, usd: float | None) -> None:
    """Store what a refinement that ended without completing spent (None: billed, amount unknown)."""
    await session.execute(
        update(Refinement)
        .where(Refinement.id == job_id, Refinement.status.in_((JobStatus.FAILED, JobStatus.CANCELLED)))
        .values(cost_usd=usd)
    )
