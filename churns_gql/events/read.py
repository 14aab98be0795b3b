"""The read model of stage_events: the queries the API and the hub read events with, and stage summaries."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.db import rows_grouped
from churns_gql.events.publish import JOB_STAGE
from churns_gql.models import StageEvent, StageStatus


async def events_by_job_ids(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[StageEvent]]:
    """Every recorded event of each job, in seq order."""
    query = select(StageEvent).where(StageEvent.job_id.in_(job_ids)).order_by(StageEvent.job_id, StageEvent.seq)
    return await rows_grouped(session, query, "job_id", job_ids)


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


async def events_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[StageEvent]:
    """The events with these ids (those a notification only named), in no particular order."""
    return list((await session.scalars(select(StageEvent).where(StageEvent.id.in_(ids)))).all())


async def job_events_after(session: AsyncSession, job_id: uuid.UUID, after: int) -> list[StageEvent]:
    """A job's events with seq above `after`, in seq order."""
    query = select(StageEvent).where(StageEvent.job_id == job_id, StageEvent.seq > after).order_by(StageEvent.seq)
    return list((await session.scalars(query)).all())


async def run_events_after(session: AsyncSession, run_id: uuid.UUID, after_id: int) -> list[StageEvent]:
    """Events of every job of a run with an id above `after_id`, each job's in seq order."""
    query = (
        select(StageEvent)
        .where(StageEvent.run_id == run_id, StageEvent.id > after_id)
        .order_by(StageEvent.job_id, StageEvent.seq)
    )
    return list((await session.scalars(query)).all())


async def last_run_event_id(session: AsyncSession, run_id: uuid.UUID) -> int:
    """The id of the newest event of any job of a run, 0 when it has none."""
    return int(
        await session.scalar(select(func.coalesce(func.max(StageEvent.id), 0)).where(StageEvent.run_id == run_id)) or 0
    )
