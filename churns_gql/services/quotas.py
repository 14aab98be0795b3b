"""Per-token limits: queued-work rate, active jobs, daily spend and storage, enforced in Postgres across replicas.

Every check runs in the transaction that inserts the job, after a transaction-scoped advisory lock on
the token: two replicas admitting jobs for one token take turns, so a limit can never be overshot by a
race. Open mode (no tokens) is one shared bucket. The lock is held until commit, so everything after it
is one statement (the counts, or for a refinement the counts, the row and its first event together).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func, literal_column, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from churns_gql.config import Settings
from churns_gql.models import JobStatus, RateWindow, Refinement, Run
from churns_gql.services.errors import UserInputError
from churns_gql.storage import RunStorage

WINDOW = timedelta(minutes=1)
_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
# Storage is measured by walking run folders; a token's total is reused for this long.
_STORAGE_CACHE_S = 30.0
_storage_cache: dict[str, tuple[float, int]] = {}
# What one OpenAI image (edit or generation) is expected to cost at high quality, before usage is known.
# A deliberately generous estimate: the limit must hold even if the real bill comes in above average.
OPENAI_IMAGE_ESTIMATE_USD = 0.25
OPENAI_TEXT_STAGES_ESTIMATE_USD = 0.05


def bucket(token_id: uuid.UUID | None) -> str:
    """The quota key of a caller: its token, or the one shared open bucket."""
    return f"token:{token_id}" if token_id is not None else "open"


def estimated_cost(settings: Settings, images: int, *, generation: bool = False) -> float:
    """The cost a job is expected to have, counted against the daily limit while it is unknown."""
    if settings.provider_name != "openai":
        return 0.0
    return images * OPENAI_IMAGE_ESTIMATE_USD + (OPENAI_TEXT_STAGES_ESTIMATE_USD if generation else 0.0)


@dataclass
class Usage:
    """A caller's use of each limit right now (a limit of 0 means unlimited)."""

    queued_this_minute: int
    active_jobs: int
    spent_today_usd: float
    storage_mb: float


def _owned(token_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Runs owned by the caller (ownerless runs for the open bucket)."""
    return Run.owner_token_id == token_id if token_id is not None else Run.owner_token_id.is_(None)


async def active_jobs(session: AsyncSession, token_id: uuid.UUID | None) -> int:
    """QUEUED + RUNNING runs and refinements of the caller."""
    runs = select(Run.id).where(_owned(token_id), Run.status.in_(_ACTIVE))
    refs = (
        select(Refinement.id)
        .join(Run, Run.id == Refinement.run_id)
        .where(_owned(token_id), Refinement.status.in_(_ACTIVE))
    )
    both = union_all(runs, refs).subquery()
    return int(await session.scalar(select(func.count()).select_from(both)) or 0)


async def spent_today(session: AsyncSession, token_id: uuid.UUID | None) -> float:
    """Today's (UTC) spend of the caller: each job's real cost once known, its estimate until then."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = select(func.greatest(Run.generation_cost_usd, Run.estimated_cost_usd).label("usd")).where(
        _owned(token_id), Run.created_at >= midnight
    )
    refs = (
        select(func.greatest(func.coalesce(Refinement.cost_usd, 0.0), Refinement.estimated_cost_usd).label("usd"))
        .join(Run, Run.id == Refinement.run_id)
        .where(_owned(token_id), Refinement.created_at >= midnight)
    )
    both = union_all(runs, refs).subquery()
    return float(
        await session.scalar(select(func.coalesce(func.sum(literal_column("usd")), 0.0)).select_from(both)) or 0.0
    )


async def _owned_run_ids(db: AsyncSession | asyncpg.Connection, token_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The ids of the caller's runs, read in a session or on a driver connection (refineImage's)."""
    if isinstance(db, AsyncSession):
        return list(await db.scalars(select(Run.id).where(_owned(token_id))))
    if token_id is None:
        return [r[0] for r in await db.fetch("SELECT id FROM runs WHERE owner_token_id IS NULL")]
    return [r[0] for r in await db.fetch("SELECT id FROM runs WHERE owner_token_id = $1", token_id)]


async def storage_bytes(db: AsyncSession | asyncpg.Connection, storage: RunStorage, token_id: uuid.UUID | None) -> int:
    """Bytes in the caller's run folders (walked off the event loop, cached briefly)."""
    key = bucket(token_id)
    cached = _storage_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < _STORAGE_CACHE_S:
        return cached[1]
    run_ids = await _owned_run_ids(db, token_id)
    total = await asyncio.to_thread(storage.runs_size, run_ids)
    _storage_cache[key] = (time.monotonic(), total)
    return total


@dataclass(frozen=True)
class Plan:
    """Which limits one admission checks under the bucket's lock (storage is checked before it)."""

    key: str
    token_id: uuid.UUID | None
    rate: bool
    active: bool
    spend: bool
    estimate_usd: float


def plan(settings: Settings, token_id: uuid.UUID | None, *, queues_work: bool, estimate_usd: float) -> Plan | None:
    """The checks one more job of the caller needs, or None when no limit is on (no lock either)."""
    if not (
        settings.rate_limit_per_minute
        or settings.max_active_jobs_per_token
        or settings.daily_spend_limit_usd
        or settings.max_storage_mb_per_token
    ):
        return None
    return Plan(
        key=bucket(token_id),
        token_id=token_id,
        rate=queues_work and bool(settings.rate_limit_per_minute),
        active=queues_work and bool(settings.max_active_jobs_per_token),
        spend=bool(settings.daily_spend_limit_usd) and estimate_usd > 0,
        estimate_usd=estimate_usd,
    )


async def check_storage(
    db: AsyncSession | asyncpg.Connection, storage: RunStorage, settings: Settings, token_id: uuid.UUID | None
) -> None:
    """The storage limit, checked before the bucket's lock: its total is a cached estimate anyway."""
    if settings.max_storage_mb_per_token:
        used_mb = await storage_bytes(db, storage, token_id) / (1024 * 1024)
        if used_mb >= settings.max_storage_mb_per_token:
            raise UserInputError.one(
                "QUOTA_EXCEEDED",
                f"your runs use {used_mb:,.0f} MB; the limit is "
                f"{settings.max_storage_mb_per_token:,} MB (delete runs to make room)",
            )


def lock_sql(key_sql: str) -> str:
    """The lock of the bucket `key_sql` (an SQL expression) names, as a select-list expression."""
    return f"pg_advisory_xact_lock(hashtextextended({key_sql}, 7))"


LOCK_SQL = lock_sql(":quota_key")
"""The bucket's lock as a select-list expression (its own statement: a later one must see what the holder before committed)."""


@functools.lru_cache(maxsize=16)
def _usage_sql(rate: bool, active: bool, spend: bool, open_bucket: bool) -> tuple[str, str, str]:
    """(CTEs, select columns, FROM items) counting one more job in the bucket, for one statement."""
    owned = "owner_token_id IS NULL" if open_bucket else "owner_token_id = :quota_token"
    ctes, cols, froms = [], [], []
    if rate:
        # Inside ON CONFLICT the existing row is `w`: an expired window restarts at 1.
        ctes.append("""quota_rate AS (
    INSERT INTO rate_windows AS w (key, window_start, count) VALUES (:quota_key, :quota_now, 1)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN w.window_start <= :quota_expired THEN 1 ELSE w.count + 1 END,
        window_start = CASE WHEN w.window_start <= :quota_expired THEN :quota_now ELSE w.window_start END
    RETURNING count AS queued, window_start)""")
        cols += ["quota_rate.queued", "quota_rate.window_start"]
        froms.append("quota_rate")
    if active:
        # The trigger-kept counters (migration 0006), exact in every snapshot: counting the rows themselves read
        # every queued refinement of the bucket under its lock, so each admission took longer than the last.
        # A deleted run's refinement counters outlive it; the join leaves them out.
        ctes.append(f"""quota_active AS (SELECT
    (SELECT COALESCE(sum(n), 0) FROM run_counts WHERE {owned} AND status IN ('QUEUED', 'RUNNING'))
    + (SELECT COALESCE(sum(c.n), 0) FROM refinement_counts c JOIN runs r ON r.id = c.run_id
       WHERE r.{owned} AND c.status IN ('QUEUED', 'RUNNING')) AS active)""")
        cols.append("quota_active.active")
        froms.append("quota_active")
    if spend:
        ctes.append(f"""quota_spent AS (SELECT
    COALESCE((SELECT sum(greatest(generation_cost_usd, estimated_cost_usd)) FROM runs
              WHERE {owned} AND created_at >= :quota_midnight), 0)
    + COALESCE((SELECT sum(greatest(COALESCE(f.cost_usd, 0), f.estimated_cost_usd)) FROM refinements f
                JOIN runs r ON r.id = f.run_id WHERE r.{owned} AND f.created_at >= :quota_midnight), 0) AS spent)""")
        cols.append("quota_spent.spent")
        froms.append("quota_spent")
    return ",\n".join(ctes), ", ".join(cols), ", ".join(froms)


def usage_sql(p: Plan) -> tuple[str, str, str, dict[str, Any]]:
    """(CTEs, select columns, FROM items, parameters) of the bucket's checks, to run in one statement after LOCK_SQL."""
    ctes, cols, froms = _usage_sql(p.rate, p.active, p.spend, p.token_id is None)
    now = datetime.now(UTC)
    params: dict[str, Any] = {"quota_key": p.key}
    if p.token_id is not None and (p.active or p.spend):
        params["quota_token"] = p.token_id
    if p.rate:
        params.update(quota_now=now, quota_expired=now - WINDOW)
    if p.spend:
        params["quota_midnight"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return ctes, cols, froms, params


def enforce(settings: Settings, p: Plan, values: Sequence[Any]) -> None:
    """Raise the first limit the usage columns of usage_sql (in their order) show exceeded."""
    it = iter(values)
    if p.rate:
        count, window_start = int(next(it)), next(it)
        if count > settings.rate_limit_per_minute:
            left = max(0.0, (window_start + WINDOW - datetime.now(UTC)).total_seconds())
            raise UserInputError.one(
                "RATE_LIMITED",
                f"more than {settings.rate_limit_per_minute} jobs a minute; try again in {max(1, round(left + 0.5))} s",
            )
    if p.active:
        active = int(next(it))
        if active >= settings.max_active_jobs_per_token:
            raise UserInputError.one(
                "QUOTA_EXCEEDED",
                f"{active} jobs are queued or running; the limit is "
                f"{settings.max_active_jobs_per_token} (wait for one to finish or cancel one)",
            )
    if p.spend:
        spent = float(next(it))
        if spent + p.estimate_usd > settings.daily_spend_limit_usd:
            raise UserInputError.one(
                "QUOTA_EXCEEDED",
                f"today's spend would reach ${spent + p.estimate_usd:.2f}; "
                f"the daily limit is ${settings.daily_spend_limit_usd:.2f}",
            )


async def admit(
    session: AsyncSession,
    storage: RunStorage,
    settings: Settings,
    token_id: uuid.UUID | None,
    *,
    queues_work: bool,
    estimate_usd: float,
) -> None:
    """Check every limit for one more job of the caller, in the inserting transaction; raises UserInputError.

    Two statements under the lock: the lock itself, then every count at once.
    """
    p = plan(settings, token_id, queues_work=queues_work, estimate_usd=estimate_usd)
    if p is None:
        return
    await check_storage(session, storage, settings, token_id)
    await session.execute(text(f"SELECT {LOCK_SQL}"), {"quota_key": p.key})
    ctes, cols, froms, params = usage_sql(p)
    if cols:
        values = (await session.execute(text(f"WITH {ctes} SELECT {cols} FROM {froms}"), params)).one()
        enforce(settings, p, values)


async def usage(session: AsyncSession, storage: RunStorage, token_id: uuid.UUID | None) -> Usage:
    """The caller's current use of every limit."""
    now = datetime.now(UTC)
    window = await session.get(RateWindow, bucket(token_id))
    queued = window.count if window is not None and window.window_start > now - WINDOW else 0
    return Usage(
        queued_this_minute=queued,
        active_jobs=await active_jobs(session, token_id),
        spent_today_usd=await spent_today(session, token_id),
        storage_mb=await storage_bytes(session, storage, token_id) / (1024 * 1024),
    )
