"""Aggregate job figures for /metrics: jobs by type and status, and what they cost."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Refinement, Run

GENERATION = "generation"
"""The job type of a run's generation; refinements use their refinement type (prompt, text, subject)."""


async def jobs_by_type_and_status(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(type, status, count) for every combination that has jobs."""
    runs = await session.execute(select(Run.status, func.count()).group_by(Run.status))
    refinements = await session.execute(
        select(Refinement.type, Refinement.status, func.count()).group_by(Refinement.type, Refinement.status)
    )
    rows = [(GENERATION, status.value, count) for status, count in runs]
    rows += [(kind.value.lower(), status.value, count) for kind, status, count in refinements]
    return rows


async def cost_by_type(session: AsyncSession) -> dict[str, float]:
    """Real cost in USD recorded so far, by job type."""
    generation = await session.scalar(select(func.coalesce(func.sum(Run.generation_cost_usd), 0.0)))
    costs = {GENERATION: float(generation or 0.0)}
    rows = await session.execute(
        select(Refinement.type, func.coalesce(func.sum(Refinement.cost_usd), 0.0)).group_by(Refinement.type)
    )
    costs.update({kind.value.lower(): float(total or 0.0) for kind, total in rows})
    return costs
