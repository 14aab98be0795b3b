"""Admitting a refinement: the parent read, then the locks, then quotas, version, row and first event at once.

The bucket's quota lock and the original's version lock are held until commit and every refineImage of
a bucket (and of an original) waits for them, so the time under them is what bounds refinements per
second. The locks are their own statement because a READ COMMITTED statement sees what was committed
before it started: only a statement issued after the lock is granted sees the previous holder's jobs.
Whatever the counts say, the row and its event are written in that second statement; when a limit is
exceeded the caller raises and the transaction rolls back (a NOTIFY is only delivered on commit).

The statements run on the asyncpg connection of a driver unit of work (services.uow): at hundreds of
refinements a second, SQLAlchemy's session, execution context and result per statement were most of
the request's CPU.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from churns_gql.config import Settings
from churns_gql.events import FIRST_EVENT_CTE, FIRST_EVENT_NOTIFY
from churns_gql.models import JobStatus, RefinementType
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


@dataclass(slots=True)
class QueuedRefinement:
    """A refinement row as admitted (QUEUED, nothing produced yet): what the payload and the queue need."""

    id: uuid.UUID
    run_id: uuid.UUID
    parent_image_id: uuid.UUID | None
    parent_refinement_id: uuid.UUID | None
    generation_index: int
    depth: int
    type: RefinementType
    status: JobStatus
    prompt: str | None
    instructions: str | None
    mask: list[dict[str, float]] | None
    creativity_level: int | None
    created_at: datetime
    estimated_cost_usd: float
    reference_image_path: str | None = None
    # Filled in by insert_queued, under the original's version lock.
    version: int = 0
    # Not produced yet; read by Refinement.from_model like the table's other columns.
    image_path: None = None
    width: None = None
    height: None = None
    summary: None = None
    cost_usd: None = None
    error_message: None = None
    started_at: None = None
    completed_at: None = None


@dataclass(frozen=True, slots=True)
class Parent:
    """What a refinement needs of the original or refinement it is made from."""

    run_id: uuid.UUID
    generation_index: int
    # 0 for an original; a refinement's own depth otherwise.
    depth: int
    # None for an original; a refinement's status otherwise.
    status: JobStatus | None


_PARENT_SQL = {
    "Image": "SELECT p.run_id, p.generation_index, 0, NULL::text FROM images p",
    "Refinement": "SELECT p.run_id, p.generation_index, p.depth, p.status::text FROM refinements p",
}


def _parent_sql(parent_type: str, owner_token_id: uuid.UUID | None) -> str:
    """The parent read; with a token, only from the token's own runs (someone else's reads as missing)."""
    if owner_token_id is None:
        return f"{_PARENT_SQL[parent_type]} WHERE p.id = $1"
    return f"{_PARENT_SQL[parent_type]} JOIN runs r ON r.id = p.run_id WHERE p.id = $1 AND r.owner_token_id = $2"


async def read_parent(
    conn: asyncpg.Connection, parent_type: str | None, parent_id: uuid.UUID | None, owner_token_id: uuid.UUID | None
) -> Parent | None:
    """The Image or Refinement a refinement is asked of, or None when it is missing or not the caller's."""
    if parent_id is None or parent_type not in _PARENT_SQL:
        return None
    args: tuple[Any, ...] = (parent_id,) if owner_token_id is None else (parent_id, owner_token_id)
    found = await conn.fetchrow(_parent_sql(parent_type, owner_token_id), *args)
    if found is None:
        return None
    return Parent(found[0], found[1], found[2], JobStatus(found[3]) if found[3] is not None else None)


@functools.lru_cache(maxsize=16)
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


# Both locks in one statement (the bucket's first, as every admission takes them), or the version lock alone.
_LOCKS_SQL = {True: f"SELECT {quotas.LOCK_SQL}, {versions.LOCK_SQL}", False: f"SELECT {versions.LOCK_SQL}"}
_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_statements: dict[str, tuple[str, tuple[str, ...]]] = {}


def _driver_statement(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement with :named parameters as asyncpg's $n SQL and the names in order, built once per statement."""
    found = _statements.get(sql)
    if found is None:
        compiled = text(sql).compile(dialect=_DIALECT)
        found = _statements[sql] = (str(compiled), tuple(compiled.positiontup or ()))
    return found


async def _execute(conn: asyncpg.Connection, sql: str, params: dict[str, Any]) -> asyncpg.Record:
    """The one row of a statement with :named parameters."""
    driver_sql, names = _driver_statement(sql)
    row: asyncpg.Record = await conn.fetchrow(driver_sql, *[params[n] for n in names])
    return row


async def insert_queued(
    conn: asyncpg.Connection, settings: Settings, row: QueuedRefinement, plan: quotas.Plan | None
) -> None:
    """Take the locks, then check the bucket's limits and insert `row` (version filled in) with its first event.

    Raises UserInputError when a limit is exceeded; the caller's transaction must then roll back.
    """
    lock_params = {"version_key": versions.lock_key(row.run_id, row.generation_index)}
    if plan is not None:
        lock_params["quota_key"] = plan.key
    await _execute(conn, _LOCKS_SQL[plan is not None], lock_params)

    quota_ctes, quota_cols, quota_froms, params = quotas.usage_sql(plan) if plan is not None else ("", "", "", {})
    params.update({c: getattr(row, c) for c in _COLUMNS})
    params["type"], params["status"] = row.type.value, row.status.value
    params["mask"] = json.dumps(row.mask) if row.mask is not None else None
    params["job_id"] = row.id
    result = tuple(await _execute(conn, _insert_sql(quota_ctes, quota_cols, quota_froms), params))
    row.version = result[0]
    if plan is not None:
        quotas.enforce(settings, plan, result[1:-1])
