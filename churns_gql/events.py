"""Stage events: publish() records one and notifies listeners in the same transaction; reads for the API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Sequence

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.db import rows_grouped
from churns_gql.models import StageEvent, StageStatus

log = logging.getLogger("churns_gql.events")

CHANNEL = "churns_events"
"""The Postgres NOTIFY channel every stage event is announced on."""

JOB_STAGE = "job"
"""Stage name of job-level events (queued, terminal), which are not listed as a StageRun."""


_INSERT_AND_NOTIFY = text("""
WITH e AS (
    INSERT INTO stage_events
        (job_id, run_id, seq, stage, status, progress, message, cost_usd, preview_path, terminal, created_at)
    VALUES (:job_id, :run_id,
            CASE WHEN :first THEN 1
                 ELSE COALESCE((SELECT max(seq) FROM stage_events WHERE job_id = :job_id), 0) + 1 END,
            :stage, :status, :progress, :message, :cost_usd, :preview_path, :terminal, :created_at)
    RETURNING id, seq
)
SELECT e.id, e.seq, pg_notify(:channel, CASE WHEN :inline
    THEN json_build_object('id', e.id, 'job', :job_id, 'run', :run_id, 'seq', e.seq, 'stage', :stage,
                           'status', :status, 'progress', :progress, 'message', :message, 'cost_usd', :cost_usd,
                           'preview_path', :preview_path, 'terminal', :terminal, 'at', :created_at)::text
    ELSE json_build_object('id', e.id, 'job', :job_id, 'run', :run_id, 'seq', e.seq)::text END)
FROM e
""")

# NOTIFY payloads must stay under 8,000 bytes; longer events travel as ids and are read back.
_INLINE_LIMIT = 6000


async def publish(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    run_id: uuid.UUID,
    stage: str,
    status: StageStatus,
    progress: float,
    message: str | None = None,
    cost_usd: float | None = None,
    preview_path: str | None = None,
    terminal: bool = False,
    first: bool = False,
) -> StageEvent:
    """Insert the job's next event and pg_notify it, in one statement; takes effect when the caller commits.

    The caller holds the job's row lock (services.lifecycle takes it for every transition), so two
    publishers of one job — the worker and a cancel — take turns and seq stays gap-free and unique.
    `first` is for the event written with the job's own row: its seq is 1. The notification carries
    the whole event when it fits, so listeners need not read it back.
    """
    event = StageEvent(job_id=job_id, run_id=run_id, stage=stage, status=status,
                       progress=max(0.0, min(1.0, progress)), message=message, cost_usd=cost_usd,
                       preview_path=preview_path, terminal=terminal, created_at=datetime.now(timezone.utc))
    inline = len(message or "") + len(preview_path or "") + len(stage) < _INLINE_LIMIT
    row = (await session.execute(_INSERT_AND_NOTIFY, {
        "job_id": str(job_id), "run_id": str(run_id), "first": first, "stage": stage, "status": status.value,
        "progress": event.progress, "message": message, "cost_usd": cost_usd, "preview_path": preview_path,
        "terminal": terminal, "created_at": event.created_at, "channel": CHANNEL, "inline": inline,
    })).one()
    event.id, event.seq = row[0], row[1]
    return event


def event_from_payload(data: dict[str, Any]) -> StageEvent | None:
    """The event a notification carries in full, or None when it only names it (too long to carry)."""
    if "stage" not in data:
        return None
    return StageEvent(
        id=int(data["id"]), job_id=uuid.UUID(data["job"]), run_id=uuid.UUID(data["run"]), seq=int(data["seq"]),
        stage=data["stage"], status=StageStatus(data["status"]), progress=float(data["progress"]),
        message=data["message"], cost_usd=data["cost_usd"], preview_path=data["preview_path"],
        terminal=bool(data["terminal"]), created_at=datetime.fromisoformat(data["at"]),
    )


async def events_by_job_ids(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[StageEvent]]:
    """Every recorded event of each job, in seq order."""
    query = select(StageEvent).where(StageEvent.job_id.in_(job_ids)).order_by(StageEvent.job_id, StageEvent.seq)
    return await rows_grouped(session, query, "job_id", job_ids)


@dataclass
class StageSummary:
    """One stage of a job as its events tell it."""

    name: str
    status: StageStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost_usd: float | None = None
    message: str | None = None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to finish, when both are known."""
        if self.started_at is None or self.completed_at is None:
            return None
        return int((self.completed_at - self.started_at).total_seconds() * 1000)


_FINISHED = {StageStatus.COMPLETED, StageStatus.FAILED, StageStatus.SKIPPED, StageStatus.CANCELLED}


def summarize_stages(stage_events: Sequence[StageEvent]) -> list[StageSummary]:
    """Fold a job's events into one summary per stage, in the order the stages first appeared."""
    stages: dict[str, StageSummary] = {}
    costs: dict[str, float] = defaultdict(float)
    for event in stage_events:
        if event.stage == JOB_STAGE:
            continue
        summary = stages.setdefault(event.stage, StageSummary(name=event.stage, status=event.status))
        summary.status = event.status
        summary.message = event.message or summary.message
        if event.status == StageStatus.RUNNING and summary.started_at is None:
            summary.started_at = event.created_at
        if event.status in _FINISHED:
            summary.completed_at = event.created_at
        if event.cost_usd is not None:
            costs[event.stage] += event.cost_usd
            summary.cost_usd = round(costs[event.stage], 6)
    return list(stages.values())


# -- the API side: one LISTEN connection per process, fanned out to subscribers -------------------


class _Resync:
    """Marker put in a subscriber's queue when events may have been missed: re-read from the table."""


RESYNC = _Resync()
_QUEUE_LIMIT = 1000


class Subscriber:
    """One subscription's inbox of stage events (or RESYNC)."""

    def __init__(self, job_id: uuid.UUID | None = None, run_id: uuid.UUID | None = None) -> None:
        self.job_id = job_id
        self.run_id = run_id
        self.queue: asyncio.Queue[StageEvent | _Resync] = asyncio.Queue(_QUEUE_LIMIT)

    def push(self, item: StageEvent | _Resync) -> None:
        """Deliver without blocking; a subscriber too slow to keep up is told to resync instead."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def get(self) -> StageEvent | _Resync:
        """The next event or RESYNC."""
        return await self.queue.get()


class EventHub:
    """Holds ONE dedicated LISTEN connection, fetches each notified event once, and fans it out.

    When the connection drops it reconnects with backoff and tells every subscriber to resync
    from stage_events, so nobody sees a gap; subscribers skip seqs they have already seen.
    """

    def __init__(self, dsn: str, db: async_sessionmaker[AsyncSession], *, max_backoff_s: float = 5.0) -> None:
        self.dsn = dsn
        self.db = db
        self.max_backoff_s = max_backoff_s
        self.connected = asyncio.Event()
        self._jobs: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._runs: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._pending: list[int] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0

    # subscribers

    def subscribe(self, *, job_id: uuid.UUID | None = None, run_id: uuid.UUID | None = None) -> Subscriber:
        """Start receiving the events of a job, or of every job of a run."""
        sub = Subscriber(job_id=job_id, run_id=run_id)
        if job_id is not None:
            self._jobs[job_id].add(sub)
        if run_id is not None:
            self._runs[run_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Stop delivering to `sub`."""
        for key, table in ((sub.job_id, self._jobs), (sub.run_id, self._runs)):
            if key is not None and key in table:
                table[key].discard(sub)
                if not table[key]:
                    del table[key]

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return sum(len(s) for s in self._jobs.values()) + sum(len(s) for s in self._runs.values())

    def _everyone(self) -> list[Subscriber]:
        return [s for subs in (*self._jobs.values(), *self._runs.values()) for s in subs]

    # the connection

    async def start(self) -> None:
        """Connect in the background; returns at once even if Postgres is not there yet."""
        self._task = asyncio.create_task(self._supervise(), name="event-hub")

    async def stop(self) -> None:
        """Close the LISTEN connection and stop reconnecting."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._flush_task is not None:
            self._flush_task.cancel()

    async def _supervise(self) -> None:
        backoff = 0.1
        while not self._closing:
            conn = None
            try:
                conn = await asyncio.wait_for(asyncpg.connect(self.dsn), timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                backoff = 0.1
                # Anything published while we were not listening is in the table: resync everyone.
                for sub in self._everyone():
                    sub.push(RESYNC)
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=5)
                    except asyncio.TimeoutError:
                        # A half-open TCP connection can look alive; a query proves it is.
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.warning("event listener connection lost (%s); reconnecting in %.1fs", exc.__class__.__name__, backoff)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if self._closing:
                return
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            event = event_from_payload(data)
            event_id = int(data["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification: %.200s", payload)
            return
        if event is not None:
            self._dispatch(event)
            return
        self._pending.append(event_id)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        # Notifications that arrive together are fetched with one query, however many subscribers.
        await asyncio.sleep(0)
        while self._pending:
            ids, self._pending = self._pending, []
            try:
                async with self.db() as session:
                    rows = (await session.scalars(select(StageEvent).where(StageEvent.id.in_(ids)))).all()
            except Exception as exc:  # noqa: BLE001 - subscribers will re-read from the table themselves
                log.warning("could not fetch notified events (%s); asking subscribers to resync", exc.__class__.__name__)
                for sub in self._everyone():
                    sub.push(RESYNC)
                continue
            for row in sorted(rows, key=lambda r: (str(r.job_id), r.seq)):
                self._dispatch(row)

    def _dispatch(self, row: StageEvent) -> None:
        for sub in tuple(self._jobs.get(row.job_id, ())):
            sub.push(row)
        for sub in tuple(self._runs.get(row.run_id, ())):
            sub.push(row)


class EventStreamLost(Exception):
    """The recorded events could not be re-read, so a gap cannot be ruled out: the client must resync."""


_REPLAY_ATTEMPTS = 10


async def _replay(query: Any, db: async_sessionmaker[AsyncSession]) -> list[StageEvent]:
    # Postgres may be restarting: retry for a few seconds, then end the stream rather than guess.
    for attempt in range(_REPLAY_ATTEMPTS):
        try:
            async with db() as session:
                return list((await session.scalars(query)).all())
        except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            if attempt == _REPLAY_ATTEMPTS - 1:
                raise EventStreamLost("progress stream interrupted; subscribe again to catch up") from exc
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def _events_after(db: async_sessionmaker[AsyncSession], job_id: uuid.UUID, after: int) -> list[StageEvent]:
    return await _replay(
        select(StageEvent).where(StageEvent.job_id == job_id, StageEvent.seq > after).order_by(StageEvent.seq), db
    )


async def follow_job(hub: EventHub, db: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> AsyncIterator[StageEvent]:
    """Every event of a job in seq order, recorded ones first, then live ones; ends after the terminal one."""
    sub = hub.subscribe(job_id=job_id)
    try:
        last = 0
        # Subscribed before reading history, so an event committed in between is in one or the other.
        batch: list[StageEvent] = await _events_after(db, job_id, last)
        while True:
            for row in batch:
                if row.seq != last + 1:
                    continue
                yield row
                last = row.seq
                if row.terminal:
                    return
            item = await sub.get()
            if isinstance(item, _Resync) or item.seq > last + 1:
                batch = await _events_after(db, job_id, last)
            else:
                batch = [item]
    finally:
        hub.unsubscribe(sub)


async def follow_run(hub: EventHub, db: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> AsyncIterator[StageEvent]:
    """The generation's recorded events, then live ones of it and of all its refinements; each job in seq order."""
    sub = hub.subscribe(run_id=run_id)
    last: dict[uuid.UUID, int] = {}
    try:
        async with db() as session:
            since = await session.scalar(select(func.coalesce(func.max(StageEvent.id), 0)).where(StageEvent.run_id == run_id))
        # The generation's own history comes first: a client subscribing right after createRun would
        # otherwise miss whatever the worker published before the subscription started.
        for row in await _events_after(db, run_id, 0):
            last[row.job_id] = row.seq
            yield row
        while True:
            item = await sub.get()
            if isinstance(item, _Resync):
                rows = await _replay(
                    select(StageEvent).where(StageEvent.run_id == run_id, StageEvent.id > since)
                    .order_by(StageEvent.job_id, StageEvent.seq), db
                )
            elif item.job_id in last and item.seq > last[item.job_id] + 1:
                rows = await _events_after(db, item.job_id, last[item.job_id])
            else:
                rows = [item]
            for row in rows:
                if row.seq <= last.get(row.job_id, 0):
                    continue
                last[row.job_id] = row.seq
                yield row
    finally:
        hub.unsubscribe(sub)
