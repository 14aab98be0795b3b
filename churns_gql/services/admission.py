"""Admitting a refinement in two statements: the locks, then quotas, version, row and first event at once.

The bucket's quota lock and the original's version lock are held until commit and every refineImage of
a bucket (and of an original) waits for them, so the time under them is what bounds refinements per
second. The locks are their own statement because a READ COMMITTED statement sees what was committed
before it started: only a statement issued after the lock is granted sees the previous holder's jobs.
Whatever the counts say, the row and its event are written in that second statement; when a limit is
exceeded the caller raises and the transaction rolls back (a NOTIFY is only delivered on commit).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.config import Settings
from churns_gql.events import FIRST_EVENT_CTE, FIRST_EVENT_NOTIFY
from churns_gql.models import Refinement
from churns_gql.services import quotas, versions

_COLUMNS = (
    "id",
    "run_id",
    "parent_image_id",
    "parent_refinement_id",
    "generation_index",
    "depth",
    "type",
    "status",
    "prompt",
    "instructions",
    "mask",
    "creativity_level",
    "reference_image_path",
    "created_at",
    "estimated_cost_usd",
)


def _insert_sql(quota_ctes: str, quota_cols: str, quota_froms: str) -> str:
    """The second statement: the bucket's counts, the next version, the row, its first event and NOTIFY."""
    names = ", ".join(_COLUMNS)
    values = ", ".join(f":{c}" for c in _COLUMNS)
    ctes = ",\n".join(
        part
        for part in (
            quota_ctes,
            f"""job AS (
    INSERT INTO refinements ({names}, version) VALUES ({values}, {versions.NEXT_SQL})
    RETURNING version)""",
            FIRST_EVENT_CTE,
        )
        if part
    )
    cols = ", ".join(part for part in ("job.version", quota_cols, f"{FIRST_EVENT_NOTIFY} AS notified") if part)
    froms = ", ".join(part for part in ("job", quota_froms) if part)
    return f"WITH {ctes}\nSELECT {cols} FROM {froms}"


_statements: dict[str, Any] = {}


def _statement(sql: str) -> Any:
    """One text() per distinct statement, so SQLAlchemy and asyncpg reuse its compiled and prepared forms."""
    stmt = _statements.get(sql)
    if stmt is None:
        stmt = _statements[sql] = text(sql)
    return stmt


async def insert_queued(session: AsyncSession, settings: Settings, row: Refinement, plan: quotas.Plan | None) -> None:
    """Take the locks, then check the bucket's limits and insert `row` (version filled in) with its first event.

    Raises UserInputError when a limit is exceeded; the caller's transaction must then roll back.
    """
    locks = [quotas.LOCK_SQL] if plan is not None else []
    locks.append(versions.LOCK_SQL)
    lock_params = {"version_key": versions.lock_key(row.run_id, row.generation_index)}
    if plan is not None:
        lock_params["quota_key"] = plan.key
    await session.execute(_statement(f"SELECT {', '.join(locks)}"), lock_params)

    quota_ctes, quota_cols, quota_froms, params = quotas.usage_sql(plan) if plan is not None else ("", "", "", {})
    params.update({c: getattr(row, c) for c in _COLUMNS})
    params["type"], params["status"] = row.type.value, row.status.value
    params["mask"] = json.dumps(row.mask) if row.mask is not None else None
    params["job_id"] = row.id
    result = (await session.execute(_statement(_insert_sql(quota_ctes, quota_cols, quota_froms)), params)).one()
    row.version = result[0]
    if plan is not None:
        quotas.enforce(settings, plan, result[1:-1])
