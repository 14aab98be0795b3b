"""Version numbers of refinements: unique per original, in creation order (v2, v3, v4...)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Refinement


def lock_key(run_id: uuid.UUID, generation_index: int) -> str:
    """The advisory lock key (class 11) that serialises version numbers of one original."""
    return f"versions:{run_id}:{generation_index}"


LOCK_SQL = "pg_advisory_xact_lock(hashtextextended(:version_key, 11))"
"""The original's version lock as a select-list expression, for callers that take it with other locks."""

NEXT_SQL = (
    "(SELECT GREATEST(COALESCE(max(version), 1), 1) + 1 FROM refinements "
    "WHERE run_id = :run_id AND generation_index = :generation_index)"
)
"""next_version's number as a scalar subquery (parameters run_id, generation_index), to read it in a later statement."""


async def next_version(session: AsyncSession, run_id: uuid.UUID, generation_index: int) -> int:
    """The next free version number of one original, held until the transaction ends.

    A transaction-scoped advisory lock per original serialises concurrent refineImage calls (across API
    replicas too), so two calls never read the same maximum.
    """
    await session.execute(text(f"SELECT {LOCK_SQL}"), {"version_key": lock_key(run_id, generation_index)})
    highest = await session.scalar(
        select(func.max(Refinement.version)).where(
            Refinement.run_id == run_id, Refinement.generation_index == generation_index
        )
    )
    return max(highest or 1, 1) + 1
