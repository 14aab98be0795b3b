"""Admitting a refinement: the locks in BEGIN's message, then parent, quotas, version, row and first event at once.

The bucket's quota lock and the original's version lock are held until commit and every refineImage of
a bucket (and of an original) waits for them, so the time under them is what bounds refinements per
second. The locks are their own statement because a READ COMMITTED statement sees what was committed
before it started: only a statement issued after the lock is granted sees the previous holder's jobs.
Whatever the counts say, the row and its event are written in that second statement (when the parent
exists and is ready); when a limit is exceeded the caller raises and the transaction rolls back (a
NOTIFY is only delivered on commit).

The statements run on the asyncpg connection of a driver unit of work (services.uow): at hundreds of
refinements a second, SQLAlchemy's session, execution context and result per statement, and each round
trip's socket send and wake-up, were most of the request's CPU. With COMMIT, an admission is three round trips.
"""

from __future__ import annotations

import functools
import json
import re
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
from churns_gql.services.errors import UserInputError
from churns_gql.services.uow import DriverWork


@dataclass(slots=True)
class QueuedRefinement:
    """A refinement row as admitted (QUEUED, nothing produced yet): what the payload and the queue need."""

    id: uuid.UUID
    parent_image_id: uuid.UUID | None
    parent_refinement_id: uuid.UUID | None
    type: RefinementType
    status: JobStatus
    prompt: str | None
    instructions: str | None
    mask: list[dict[str, float]] | None
    creativity_level: int | None
    created_at: datetime
    estimated_cost_usd: float
    reference_image_path: str | None = None
    # Filled in by insert_queued from the parent it reads, and (version) under the original's lock.
    run_id: uuid.UUID = uuid.UUID(int=0)
    generation_index: int = 0
    depth: int = 0
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
    # (the parent's columns as the new refinement takes them, FROM): an original gives depth 1 and no status.
    "Image": (
        "p.id AS parent_image_id, NULL::uuid AS parent_refinement_id, p.run_id, p.generation_index, 1 AS depth, "
        "NULL::text AS status",
        "images p",
    ),
    "Refinement": (
        "NULL::uuid AS parent_image_id, p.id AS parent_refinement_id, p.run_id, p.generation_index, "
        "p.depth + 1 AS depth, p.status::text AS status",
        "refinements p",
    ),
}


def _parent_from(parent_type: str, id_sql: str, owner_sql: str | None) -> str:
    """FROM and WHERE of the parent read; with a token, only from the token's own runs (someone else's reads as
    missing)."""
    source = _PARENT_SQL[parent_type][1]
    if owner_sql is None:
        return f"FROM {source} WHERE p.id = {id_sql}"
    return f"FROM {source} JOIN runs r ON r.id = p.run_id WHERE p.id = {id_sql} AND r.owner_token_id = {owner_sql}"


async def read_parent(
    conn: asyncpg.Connection, parent_type: str | None, parent_id: uuid.UUID | None, owner_token_id: uuid.UUID | None
) -> Parent | None:
    """The Image or Refinement a refinement is asked of, or None when it is missing or not the caller's."""
    if parent_id is None or parent_type not in _PARENT_SQL:
        return None
    owner = None if owner_token_id is None else "$2"
    sql = f"SELECT p.run_id, p.generation_index, depth, status FROM (SELECT {_PARENT_SQL[parent_type][0]} "
    sql += f"{_parent_from(parent_type, '$1', owner)}) p"
    args: tuple[Any, ...] = (parent_id,) if owner_token_id is None else (parent_id, owner_token_id)
    found = await conn.fetchrow(sql, *args)
    if found is None:
        return None
    return Parent(found[0], found[1], found[2] - 1, JobStatus(found[3]) if found[3] is not None else None)


_SAFE_LITERAL = re.compile(r"[a-z0-9:-]+")


def _literal(value: str) -> str:
    """A quota key or a UUID as an SQL string literal (only what keys and UUIDs are made of gets in)."""
    if not _SAFE_LITERAL.fullmatch(value):
        raise ValueError(f"not a key or an id: {value!r}")
    return f"'{value}'"


def _locks_sql(
    parent_type: str, parent_id: uuid.UUID, owner_token_id: uuid.UUID | None, plan: quotas.Plan | None
) -> str:
    """The locks as one statement without parameters (it rides in BEGIN's message): the bucket's, then the
    original's, keyed on the parent row; a missing parent takes neither (its insert then writes nothing)."""
    owner = None if owner_token_id is None else _literal(str(owner_token_id))
    locks = [quotas.lock_sql(_literal(plan.key))] if plan is not None else []
    locks.append(versions.lock_sql(versions.key_sql("p")))
    return f"SELECT {', '.join(locks)} {_parent_from(parent_type, _literal(str(parent_id)), owner)}"


# The row's own values, typed: in INSERT ... SELECT the parameters take no type from the target columns.
_VALUES = (
    ("id", "uuid"),
    ("type", "varchar"),
    ("status", "varchar"),
    ("prompt", "text"),
    ("instructions", "text"),
    ("mask", "jsonb"),
    ("creativity_level", "integer"),
    ("reference_image_path", "varchar"),
    ("created_at", "timestamptz"),
    ("estimated_cost_usd", "double precision"),
)
_FROM_PARENT = ("parent_image_id", "parent_refinement_id", "run_id", "generation_index", "depth")


@functools.lru_cache(maxsize=64)
def _insert_sql(parent_type: str, owned: bool, quota_ctes: str, quota_cols: str, quota_froms: str) -> str:
    """The statement after the locks: the parent, the bucket's counts, the next version, the row (only when the
    parent exists and is ready), its first event and NOTIFY; one row unless the parent is missing."""
    names = ", ".join((*_FROM_PARENT, *(c for c, _ in _VALUES)))
    values = ", ".join((*(f"parent.{c}" for c in _FROM_PARENT), *(f"CAST(:{c} AS {t})" for c, t in _VALUES)))
    next_version = versions.next_sql("parent.run_id", "parent.generation_index")
    parent_from = _parent_from(parent_type, ":parent_id", ":owner_token_id" if owned else None)
    ctes = ",\n".join(
        part
        for part in (
            f"parent AS (SELECT {_PARENT_SQL[parent_type][0]} {parent_from})",
            quota_ctes,
            f"""job AS (
    INSERT INTO refinements ({names}, version)
    SELECT {values}, {next_version} FROM parent WHERE parent.status IS NULL OR parent.status = 'COMPLETED'
    RETURNING run_id, generation_index, depth, version)""",
            FIRST_EVENT_CTE,
        )
        if part
    )
    cols = ", ".join(
        part
        for part in (
            "parent.status, job.run_id, job.generation_index, job.depth, job.version",
            quota_cols,
            f"{FIRST_EVENT_NOTIFY} AS notified",
        )
        if part
    )
    froms = ", ".join(part for part in ("parent LEFT JOIN job ON true", quota_froms) if part)
    return f"WITH {ctes}\nSELECT {cols} FROM {froms}"


_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_statements: dict[str, tuple[str, tuple[str, ...]]] = {}


def _driver_statement(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement with :named parameters as asyncpg's $n SQL and the names in order, built once per statement."""
    found = _statements.get(sql)
    if found is None:
        compiled = text(sql).compile(dialect=_DIALECT)
        found = _statements[sql] = (str(compiled), tuple(compiled.positiontup or ()))
    return found


async def insert_queued(
    work: DriverWork,
    settings: Settings,
    row: QueuedRefinement,
    parent_type: str,
    owner_token_id: uuid.UUID | None,
    plan: quotas.Plan | None,
) -> None:
    """Begin with the locks, then read the parent, check the bucket's limits and insert `row` with its first event;
    fills in the row's run, generation, depth and version from its parent.

    Raises UserInputError when the parent is missing or not ready, or a limit is exceeded; the caller's
    transaction must then roll back.
    """
    parent_id = row.parent_image_id if parent_type == "Image" else row.parent_refinement_id
    assert parent_id is not None
    conn = await work.open_with(_locks_sql(parent_type, parent_id, owner_token_id, plan))
    quota_ctes, quota_cols, quota_froms, params = quotas.usage_sql(plan) if plan is not None else ("", "", "", {})
    params.update({c: getattr(row, c) for c, _ in _VALUES})
    params["type"], params["status"] = row.type.value, row.status.value
    params["mask"] = json.dumps(row.mask) if row.mask is not None else None
    params["job_id"], params["parent_id"], params["owner_token_id"] = row.id, parent_id, owner_token_id
    sql = _insert_sql(parent_type, owner_token_id is not None, quota_ctes, quota_cols, quota_froms)
    driver_sql, names = _driver_statement(sql)
    found = await conn.fetchrow(driver_sql, *[params[n] for n in names])
    if found is None:
        raise UserInputError.one("NOT_FOUND", "no Image or Refinement with that parentId", "input", "parentId")
    result = tuple(found)
    if result[4] is None:
        raise not_ready(JobStatus(result[0]))
    row.run_id, row.generation_index, row.depth, row.version = result[1:5]
    if plan is not None:
        quotas.enforce(settings, plan, result[5:-1])


def not_ready(status: JobStatus) -> UserInputError:
    """The refusal of a refinement of a refinement that has not completed."""
    return UserInputError.one(
        "NOT_READY", f"the parent refinement is {status.value}; refine it once it has COMPLETED", "input", "parentId"
    )
