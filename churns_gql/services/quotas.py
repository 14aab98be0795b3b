"""Per-token limits: queued-work rate, active jobs, daily spend and storage, enforced in Postgres across replicas.

Every check runs in the transaction that inserts the job, after a transaction-scoped advisory lock on
the token: two replicas admitting jobs for one token take turns, so a limit can never be overshot by a
race. Open mode (no tokens) is one shared bucket.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, literal_column, select, text, union_all
from sqlalchemy.dialects.postgresql import insert
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


async def lock(session: AsyncSession, key: str) -> None:
    """Serialise admissions for one bucket until the transaction ends (across API replicas)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 7))"), {"key": key})


def _owned(token_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Runs owned by the caller (ownerless runs for the open bucket)."""
    return Run.owner_token_id == token_id if token_id is not None else Run.owner_token_id.is_(None)


async def active_jobs(session: AsyncSession, token_id: uuid.UUID | None) -> int:
    """QUEUED + RUNNING runs and refinements of the caller."""
    runs = select(Run.id).where(_owned(token_id), Run.status.in_(_ACTIVE))
    refs = (select(Refinement.id).join(Run, Run.id == Refinement.run_id)
            .where(_owned(token_id), Refinement.status.in_(_ACTIVE)))
    both = union_all(runs, refs).subquery()
    return int(await session.scalar(select(func.count()).select_from(both)) or 0)


async def spent_today(session: AsyncSession, token_id: uuid.UUID | None) -> float:
    """Today's (UTC) spend of the caller: each job's real cost once known, its estimate until then."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = select(func.greatest(Run.generation_cost_usd, Run.estimated_cost_usd).label("usd")).where(
        _owned(token_id), Run.created_at >= midnight)
    refs = (select(func.greatest(func.coalesce(Refinement.cost_usd, 0.0), Refinement.estimated_cost_usd).label("usd"))
            .join(Run, Run.id == Refinement.run_id).where(_owned(token_id), Refinement.created_at >= midnight))
    both = union_all(runs, refs).subquery()
    return float(await session.scalar(select(func.coalesce(func.sum(literal_column("usd")), 0.0)).select_from(both)) or 0.0)


async def storage_bytes(session: AsyncSession, storage: RunStorage, token_id: uuid.UUID | None) -> int:
    """Bytes in the caller's run folders (walked off the event loop, cached briefly)."""
    key = bucket(token_id)
    cached = _storage_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < _STORAGE_CACHE_S:
        return cached[1]
    run_ids = list(await session.scalars(select(Run.id).where(_owned(token_id))))
    total = await asyncio.to_thread(storage.runs_size, run_ids)
    _storage_cache[key] = (time.monotonic(), total)
    return total


async def count_queued(session: AsyncSession, key: str) -> tuple[int, float]:
    """Count one more queued-work mutation in the bucket's current window; returns (count, seconds left)."""
    now = datetime.now(UTC)
    # Inside ON CONFLICT the existing row is the table itself: an expired window restarts at 1.
    expired = RateWindow.window_start <= now - WINDOW
    stmt = insert(RateWindow).values(key=key, window_start=now, count=1).on_conflict_do_update(index_elements=[RateWindow.key], set_={
        "count": case((expired, 1), else_=RateWindow.count + 1),
        "window_start": case((expired, now), else_=RateWindow.window_start),
    }).returning(RateWindow.count, RateWindow.window_start)
    # Unpacked by position: Row.count is also the tuple method of that name.
    count, window_start = (await session.execute(stmt)).one()
    left = (window_start + WINDOW - now).total_seconds()
    return int(count), max(0.0, left)


async def admit(session: AsyncSession, storage: RunStorage, settings: Settings, token_id: uuid.UUID | None,
                *, queues_work: bool, estimate_usd: float) -> None:
    """Check every limit for one more job of the caller, in the inserting transaction; raises UserInputError."""
    limits = settings
    if not (limits.rate_limit_per_minute or limits.max_active_jobs_per_token or limits.daily_spend_limit_usd
            or limits.max_storage_mb_per_token):
        return
    key = bucket(token_id)
    await lock(session, key)
    if queues_work and limits.rate_limit_per_minute:
        count, left = await count_queued(session, key)
        if count > limits.rate_limit_per_minute:
            wait = max(1, round(left + 0.5))
            raise UserInputError.one("RATE_LIMITED", f"more than {limits.rate_limit_per_minute} jobs a minute; "
                                     f"try again in {wait} s")
    if queues_work and limits.max_active_jobs_per_token:
        active = await active_jobs(session, token_id)
        if active >= limits.max_active_jobs_per_token:
            raise UserInputError.one("QUOTA_EXCEEDED", f"{active} jobs are queued or running; the limit is "
                                     f"{limits.max_active_jobs_per_token} (wait for one to finish or cancel one)")
    if limits.daily_spend_limit_usd and estimate_usd > 0:
        spent = await spent_today(session, token_id)
        if spent + estimate_usd > limits.daily_spend_limit_usd:
            raise UserInputError.one("QUOTA_EXCEEDED", f"today's spend would reach ${spent + estimate_usd:.2f}; "
                                     f"the daily limit is ${limits.daily_spend_limit_usd:.2f}")
    if limits.max_storage_mb_per_token:
        used_mb = await storage_bytes(session, storage, token_id) / (1024 * 1024)
        if used_mb >= limits.max_storage_mb_per_token:
            raise UserInputError.one("QUOTA_EXCEEDED", f"your runs use {used_mb:,.0f} MB; the limit is "
                                     f"{limits.max_storage_mb_per_token:,} MB (delete runs to make room)")


async def usage(session: AsyncSession, storage: RunStorage, token_id: uuid.UUID | None) -> Usage:
    """The caller's current use of every limit."""
    now = datetime.now(UTC)
    window = await session.get(RateWindow, bucket(token_id))
    queued = window.count if window is not None and window.window_start > now - WINDOW else 0
    return Usage(queued_this_minute=queued, active_jobs=await active_jobs(session, token_id),
                 spent_today_usd=await spent_today(session, token_id),
                 storage_mb=await storage_bytes(session, storage, token_id) / (1024 * 1024))
