"""The caller's unfinished work: runs and refinements still QUEUED or RUNNING."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import JobStatus, Refinement, Run
from churns_gql.services.tokens import Caller

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
# The per-token active-job quota keeps real lists far shorter; this only bounds one answer.
LIMIT = 50


async def active_runs(session: AsyncSession, caller: Caller) -> list[Run]:
    """Runs of the caller still generating, oldest first."""
    query = select(Run).where(Run.status.in_(ACTIVE))
    if not caller.is_open:
        query = query.where(Run.owner_token_id == caller.token_id)
    return list((await session.scalars(query.order_by(Run.created_at, Run.id).limit(LIMIT))).all())


async def active_refinements(session: AsyncSession, caller: Caller) -> list[Refinement]:
    """Refinements in the caller's runs still queued or running, oldest first."""
    query = select(Refinement).where(Refinement.status.in_(ACTIVE))
    if not caller.is_open:
        query = query.join(Run, Run.id == Refinement.run_id).where(Run.owner_token_id == caller.token_id)
    query = query.order_by(Refinement.created_at, Refinement.id).limit(LIMIT)
    return list((await session.scalars(query)).all())
