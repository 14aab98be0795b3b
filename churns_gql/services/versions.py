"""Version numbers of refinements: unique per original, in creation order (v2, v3, v4...)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Refinement


def lock_key(run_id: uuid.UUID, generation_index: int) -> str:
    """The advisory lock key (class 11) that serialises version numbers of one original."""
    return f"versions:{run_id}:{generation_index}"


def lock_sql(key_sql: str) -> str:
    """The version lock of the original whose lock_key `key_sql` (an SQL expression) gives, as a select-list expression."""
    return f"pg_advisory_xact_lock(hashtextextended({key_sql}, 11))"


def key_sql(alias: str) -> str:
    """lock_key as an SQL expression over a row `alias` with run_id and generation_index (uuid::text is str(uuid))."""
    return f"'versions:' || {alias}.run_id || ':' || {alias}.generation_index"


LOCK_SQL = lock_sql(":version_key")
"""The original's version lock as a select-list expression, for callers that take it with other locks."""


def next_sql(run_id_sql: str, generation_index_sql: str) -> str:
    """next_version's number as a scalar subquery over two SQL expressions, to read it in a later statement."""
    return (
        "(SELECT GREATEST(COALESCE(max(version), 1), 1) + 1 FROM refinements "
        f"WHERE run_id = {run_id_sql} AND generation_index = {generation_index_sql})"
    )


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
