"""Stage events: publish() records one and notifies listeners in the same transaction; reads for the API."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import StageEvent, StageStatus

CHANNEL = "churns_events"
"""The Postgres NOTIFY channel every stage event is announced on."""

JOB_STAGE = "job"
"""Stage name of job-level events (queued, terminal), which are not listed as a StageRun."""


async def publish(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    run_id: uuid.UUID,
    stage: str,
    status: StageStatus,
    progress: float,
    message: str | None = None,
    cost_usd: float | None = None,
    preview_path: str | None = None,
    terminal: bool = False,
) -> StageEvent:
    """Insert the job's next event (seq + 1) and pg_notify its ids; takes effect when the caller commits."""
    # Worker and API (cancel) may publish for one job at once; the lock keeps seq gap-free and unique.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": str(job_id)})
    last = await session.scalar(select(func.coalesce(func.max(StageEvent.seq), 0)).where(StageEvent.job_id == job_id))
    event = StageEvent(
        job_id=job_id,
        run_id=run_id,
        seq=int(last or 0) + 1,
        stage=stage,
        status=status,
        progress=max(0.0, min(1.0, progress)),
        message=message,
        cost_usd=cost_usd,
        preview_path=preview_path,
        terminal=terminal,
    )
    session.add(event)
    await session.flush()
    payload = json.dumps({"job": str(job_id), "run": str(run_id), "seq": event.seq, "id": event.id})
    await session.execute(select(func.pg_notify(CHANNEL, payload)))
    return event


async def events_by_job_ids(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[StageEvent]]:
    """Every recorded event of each job, in seq order."""
    rows = (
        await session.scalars(
            select(StageEvent).where(StageEvent.job_id.in_(job_ids)).order_by(StageEvent.job_id, StageEvent.seq)
        )
    ).all()
    out: dict[uuid.UUID, list[StageEvent]] = {j: [] for j in job_ids}
    for row in rows:
        out[row.job_id].append(row)
    return out


@dataclass
class StageSummary:
    """One stage of a job as its events tell it."""

    name: str
    status: StageStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost_usd: float | None = None
    message: str | None = None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to finish, when both are known."""
        if self.started_at is None or self.completed_at is None:
            return None
        return int((self.completed_at - self.started_at).total_seconds() * 1000)


_FINISHED = {StageStatus.COMPLETED, StageStatus.FAILED, StageStatus.SKIPPED, StageStatus.CANCELLED}


def summarize_stages(stage_events: Sequence[StageEvent]) -> list[StageSummary]:
    """Fold a job's events into one summary per stage, in the order the stages first appeared."""
    stages: dict[str, StageSummary] = {}
    costs: dict[str, float] = defaultdict(float)
    for event in stage_events:
        if event.stage == JOB_STAGE:
            continue
        summary = stages.setdefault(event.stage, StageSummary(name=event.stage, status=event.status))
        summary.status = event.status
        summary.message = event.message or summary.message
        if event.status == StageStatus.RUNNING and summary.started_at is None:
            summary.started_at = event.created_at
        if event.status in _FINISHED:
            summary.completed_at = event.created_at
        if event.cost_usd is not None:
            costs[event.stage] += event.cost_usd
            summary.cost_usd = round(costs[event.stage], 6)
    return list(stages.values())
