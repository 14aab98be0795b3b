"""Version numbers of refinements: unique per original, in creation order (v2, v3, v4...)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Refinement


async def next_version(session: AsyncSession, run_id: uuid.UUID, generation_index: int) -> int:
    """The next free version number of one original, held until the transaction ends.

    A transaction-scoped advisory lock per original serialises concurrent refineImage calls (across API
    replicas too), so two calls never read the same maximum.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 11))"),
                          {"key": f"versions:{run_id}:{generation_index}"})
    highest = await session.scalar(
        select(func.max(Refinement.version)).where(Refinement.run_id == run_id,
                                                   Refinement.generation_index == generation_index)
    )
    return max(highest or 1, 1) + 1
