"""Following a job's or a run's events: the recorded ones from the table, then live ones from the hub, in order.

A caught-up follower can hand its position to the hub's direct sink and end (Parked), so an idle
subscription holds no task or generator chain; it is resumed from that position when the sink declines.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.events import read
from churns_gql.events.hub import EventHub, Subscriber
from churns_gql.models import StageEvent


class EventStreamLost(Exception):
    """The recorded events could not be re-read, so a gap cannot be ruled out: the client must resync."""


_REPLAY_ATTEMPTS = 10
_T = TypeVar("_T")


async def _replay(read_rows: Callable[[AsyncSession], Awaitable[_T]], db: async_sessionmaker[AsyncSession]) -> _T:
    # Postgres may be restarting: retry for a few seconds, then end the stream rather than guess.
    for attempt in range(_REPLAY_ATTEMPTS):
        try:
            async with db() as session:
                return await read_rows(session)
        except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            if attempt == _REPLAY_ATTEMPTS - 1:
                raise EventStreamLost("progress stream interrupted; subscribe again to catch up") from exc
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def _events_after(db: async_sessionmaker[AsyncSession], job_id: uuid.UUID, after: int) -> list[StageEvent]:
    return await _replay(lambda session: read.job_events_after(session, job_id, after), db)


Direct = Callable[[StageEvent], bool]


class Parked(BaseException):
    """Raised by a caught-up follower whose position a Park took: its task ends, the hub's sink carries on.

    A BaseException, like a cancellation, so that no `except Exception` on the way out turns it into an error.
    """


class Position:
    """Where a follower is: its subscriber, the last seq delivered (per job for a run), a run's resync start."""

    __slots__ = ("hub", "last", "since", "sub")

    def __init__(self, hub: EventHub, sub: Subscriber, last: Any, since: int = 0) -> None:
        self.hub = hub
        self.sub = sub
        self.last = last
        self.since = since

    def release(self) -> None:
        """Stop the hub delivering to this position's subscriber."""
        self.sub.sink = self.sub.wake = None
        self.hub.unsubscribe(self.sub)


Park = Callable[[Position], bool]
"""Offered a caught-up follower's position: True when it took it (the follower then raises Parked)."""


_RunStart = tuple[int, list[StageEvent]]
# Per hub, the run-start read of each run that has not yet taken its snapshot: a subscriber may join it.
_starting: weakref.WeakKeyDictionary[EventHub, dict[uuid.UUID, asyncio.Task[_RunStart]]] = weakref.WeakKeyDictionary()


async def _run_start(hub: EventHub, db: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> _RunStart:
    """The run's newest event id and its generation's history, read with one connection checkout.

    Subscribers of one run arriving together share one read: a read is joinable only until its connection
    is checked out and its first statement is about to run, so everyone who joins subscribed to the hub
    before the read's snapshot, and nothing committed in between is missed. In its own task and frame: a
    session bound in the follower's frame would stay alive as long as the subscription, and one follower
    leaving must not cancel the read the others wait for.
    """
    pending = _starting.setdefault(hub, {})
    task = pending.get(run_id)
    if task is None:

        async def both(session: AsyncSession) -> _RunStart:
            await session.connection()
            if pending.get(run_id) is task:
                del pending[run_id]  # from here on the snapshot may be taken: later subscribers read anew
            since = await read.last_run_event_id(session, run_id)
            return since, await read.job_events_after(session, run_id, 0)

        task = pending[run_id] = asyncio.ensure_future(_replay(both, db))
        task.add_done_callback(lambda t: _forget(pending, run_id, t))
    return await asyncio.shield(task)


def _forget(pending: dict[uuid.UUID, asyncio.Task[_RunStart]], run_id: uuid.UUID, task: asyncio.Task[Any]) -> None:
    """Drop a finished start read from the joinable ones."""
    if pending.get(run_id) is task:
        del pending[run_id]
    if not task.cancelled():
        task.exception()  # retrieved here: every follower that wanted it may have left


async def follow_job(
    hub: EventHub,
    db: async_sessionmaker[AsyncSession],
    job_id: uuid.UUID,
    direct: Direct | None = None,
    park: Park | None = None,
    resume: Position | None = None,
) -> AsyncIterator[StageEvent]:
    """Every event of a job in seq order, recorded ones first, then live ones; ends after the terminal one.

    With `direct`, live events that come in order while the follower waits are handed to it from the hub's
    callback instead of being yielded (it returns False for any it cannot deliver now; those, gaps,
    resyncs and the terminal event are yielded here as usual, after everything it took). With `park` as
    well, a caught-up follower offers its position and, once taken, ends by raising Parked; `resume` goes
    on from such a position (no history is read again).
    """
    pos = resume or Position(hub, hub.subscribe(job_id=job_id), 0)
    sub = pos.sub

    def take(item: StageEvent) -> bool:
        if item.seq <= pos.last:
            return True  # already delivered; the generator would skip it too
        if item.seq != pos.last + 1 or item.terminal or direct is None or not direct(item):
            return False
        pos.last = item.seq
        return True

    parked = False
    try:
        # Subscribed before reading history, so an event committed in between is in one or the other.
        batch: list[StageEvent] = [] if resume else await _events_after(db, job_id, pos.last)
        while True:
            for row in batch:
                if row.seq != pos.last + 1:
                    continue
                yield row
                pos.last = row.seq
                if row.terminal:
                    return
            if direct is not None and not sub.pending():
                sub.sink = take
                if park is not None and park(pos):
                    parked = True
                    raise Parked
            item = await sub.get()
            if not isinstance(item, StageEvent) or item.seq > pos.last + 1:
                batch = await _events_after(db, job_id, pos.last)
            else:
                batch = [item]
    finally:
        if not parked:
            pos.release()


async def follow_run(
    hub: EventHub,
    db: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    direct: Direct | None = None,
    park: Park | None = None,
    resume: Position | None = None,
) -> AsyncIterator[StageEvent]:
    """The generation's recorded events, then live ones of it and of all its refinements; each job in seq order.

    `direct`, `park` and `resume` as for follow_job.
    """
    pos = resume or Position(hub, hub.subscribe(run_id=run_id), {})
    sub, last = pos.sub, pos.last

    def take(item: StageEvent) -> bool:
        seen = last.get(item.job_id)
        if seen is not None and item.seq <= seen:
            return True  # already delivered; the generator would skip it too
        if (seen is not None and item.seq != seen + 1) or direct is None or not direct(item):
            return False
        last[item.job_id] = item.seq
        return True

    parked = False
    try:
        if resume is None:
            pos.since, history = await _run_start(hub, db, run_id)
            # The generation's own history comes first: a client subscribing right after createRun would
            # otherwise miss whatever the worker published before the subscription started.
            for row in history:
                last[row.job_id] = row.seq
                yield row
        while True:
            if direct is not None and not sub.pending():
                sub.sink = take
                if park is not None and park(pos):
                    parked = True
                    raise Parked
            item = await sub.get()
            if not isinstance(item, StageEvent):  # RESYNC
                rows = await _replay(lambda session: read.run_events_after(session, run_id, pos.since), db)
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
        if not parked:
            pos.release()
