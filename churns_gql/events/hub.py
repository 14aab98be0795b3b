"""The API's event hub: one LISTEN connection per process fanned out to subscribers, with replay from the table.

Other channels can ride on the same connection (`watch`): the API's token gate hears revocations this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.events import read
from churns_gql.events.publish import CHANNEL, event_from_payload
from churns_gql.models import StageEvent

log = logging.getLogger("churns_gql.events")


class _Resync:
    """Marker put in a subscriber's queue when events may have been missed: re-read from the table."""


RESYNC = _Resync()
_QUEUE_LIMIT = 1000


class Subscriber:
    """One subscription's inbox of stage events (or RESYNC).

    A list and at most one waiting future, not an asyncio.Queue: an idle subscription holds a few hundred
    bytes instead of four deques (bench P2 holds 10,000 of them), and a push wakes the one reader directly.
    """

    __slots__ = ("_items", "_waiter", "job_id", "run_id", "sink", "wake")

    def __init__(self, job_id: uuid.UUID | None = None, run_id: uuid.UUID | None = None) -> None:
        self.job_id = job_id
        self.run_id = run_id
        self._items: list[StageEvent | _Resync] = []
        self._waiter: asyncio.Future[None] | None = None
        # Set by a follower parked on an empty inbox: takes an in-order live event straight to its client.
        self.sink: Callable[[StageEvent], bool] | None = None
        # Set while a parked subscription has no reader at all: called once when the inbox gets an item.
        self.wake: Callable[[], None] | None = None

    def push(self, item: StageEvent | _Resync) -> None:
        """Deliver without blocking; a subscriber too slow to keep up is told to resync instead."""
        sink = self.sink
        if sink is not None:
            # Whatever the sink declines goes to the inbox, and the follower (woken) takes over, in order.
            self.sink = None
            if not self._items and not isinstance(item, _Resync) and _sunk(sink, item):
                self.sink = sink
                return
        if len(self._items) >= _QUEUE_LIMIT:
            self._items[:] = [RESYNC]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self.wake is not None:
            wake, self.wake = self.wake, None
            wake()

    def pending(self) -> int:
        """Items delivered and not yet read."""
        return len(self._items)

    async def get(self) -> StageEvent | _Resync:
        """The next event or RESYNC, in the order pushed."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


def _payload_only(on_payload: Callable[[str], None]) -> Callable[[Any, int, str, str], None]:
    """An asyncpg listener callback that hands only the payload on, and never lets a watcher's error escape."""

    def callback(_conn: Any, _pid: int, channel: str, payload: str) -> None:
        try:
            on_payload(payload)
        except Exception:
            log.warning("the watcher of %s failed on a notification", channel, exc_info=True)

    return callback


def _gap(channel: str, on_gap: Callable[[], None]) -> None:
    """Tell a watcher that notifications may have been missed; its error must not stop the hub."""
    try:
        on_gap()
    except Exception:
        log.warning("the watcher of %s failed to handle a gap", channel, exc_info=True)


def _sunk(sink: Callable[[StageEvent], bool], item: StageEvent) -> bool:
    # One subscriber's failing sink must not stop the dispatch to the others: it falls back to its inbox.
    try:
        return sink(item)
    except Exception:
        log.warning("direct delivery failed; the subscription falls back to its inbox", exc_info=True)
        return False


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
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._conn: asyncpg.Connection | None = None
        self._watches: dict[str, tuple[Callable[[str], None], Callable[[], None]]] = {}
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

    # other channels

    def watch(self, channel: str, on_payload: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        """Also LISTEN on `channel`, handing each payload to `on_payload`.

        `on_gap` is called each time the connection (re)starts listening, after the LISTEN: whatever was
        notified before then, or while the connection was down, was never heard, so the watcher must
        drop anything it would otherwise have corrected on a notification.
        """
        self._watches[channel] = (on_payload, on_gap)
        conn = self._conn
        if conn is not None and not conn.is_closed() and self.connected.is_set():
            task = asyncio.create_task(self._listen_one(conn, channel), name=f"event-hub-watch-{channel}")
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)

    async def _listen_one(self, conn: asyncpg.Connection, channel: str) -> None:
        """Start listening on a watched channel of a live connection, then report the gap before it."""
        on_payload, on_gap = self._watches[channel]
        try:
            await conn.add_listener(channel, _payload_only(on_payload))
        except Exception as exc:
            # The connection is going away; the reconnect listens again and reports the gap then.
            log.warning("could not listen on %s (%s)", channel, exc.__class__.__name__)
            return
        _gap(channel, on_gap)

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
        for task in tuple(self._side_tasks):
            task.cancel()

    async def _supervise(self) -> None:
        backoff = 0.1
        while not self._closing:
            conn = None
            try:
                conn = await asyncio.wait_for(asyncpg.connect(self.dsn), timeout=10)
                lost = asyncio.Event()
                # Bound now: a late callback of an old connection must not set the next connection's event.
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                listening: set[str] = set()
                # A channel watched while we await a LISTEN is picked up by the next round, not missed.
                while todo := set(self._watches) - listening:
                    for channel in todo:
                        await conn.add_listener(channel, _payload_only(self._watches[channel][0]))
                        listening.add(channel)
                self._conn = conn
                self.connected.set()
                for channel in listening:
                    _gap(channel, self._watches[channel][1])
                backoff = 0.1
                # Anything published while we were not listening is in the table: resync everyone.
                for sub in self._everyone():
                    sub.push(RESYNC)
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=5)
                    except TimeoutError:
                        # A half-open TCP connection can look alive; a query proves it is.
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "event listener connection lost (%s); reconnecting in %.1fs", exc.__class__.__name__, backoff
                )
            finally:
                self.connected.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if self._closing:
                return
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if not self._jobs and not self._runs:
            return  # nobody here follows any job: not even the payload needs reading
        try:
            data = json.loads(payload)
            job_id, run_id, event_id = uuid.UUID(data["job"]), uuid.UUID(data["run"]), int(data["id"])
            # Most events (every job's first, while nobody watches it) have no subscriber in this process;
            # one that subscribes later reads them from the table after subscribing.
            if job_id not in self._jobs and run_id not in self._runs:
                return
            event = event_from_payload(data)
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
                    rows = await read.events_by_ids(session, ids)
            except Exception as exc:
                log.warning(
                    "could not fetch notified events (%s); asking subscribers to resync", exc.__class__.__name__
                )
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
