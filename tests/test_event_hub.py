"""EventHub: one LISTEN connection, fan-out, and no gap or repeat when that connection drops."""

from __future__ import annotations

import asyncio
import tracemalloc

from sqlalchemy import text

from churns_gql import events
from churns_gql.events import RESYNC, EventHub, Subscriber
from churns_gql.graphql.ids import decode_id
from churns_gql.models import StageStatus
from tests.conftest import TEST_DATABASE_URL, import_images, png_bytes, refine

DSN = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")


async def _job(client):
    run = (await import_images(client, [png_bytes()]))["run"]
    ref = (await refine(client, run["images"][0]["id"], prompt="warmer"))["refinement"]
    return decode_id(run["id"])[1], decode_id(ref["id"])[1]


async def _publish(services, run_id, job_id, n, terminal=False):
    for i in range(n):
        await _publish_one(services, run_id, job_id, terminal=terminal and i == n - 1)


async def _publish_one(services, run_id, job_id, status=StageStatus.RUNNING, **fields):
    """Publish and commit one event of stage "s" (RUNNING at 0.1 unless told otherwise)."""
    async with services.db() as session:
        await events.publish(
            session, job_id=job_id, run_id=run_id, stage="s", status=status, **{"progress": 0.1, **fields}
        )
        await session.commit()


async def _listener_pids(services) -> list[int]:
    async with services.db() as session:
        rows = await session.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
        )
        return [r[0] for r in rows]


async def test_many_subscribers_share_one_listen_connection(client, services):
    run_id, job_id = await _job(client)
    hub = EventHub(DSN, services.db)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        followers = [asyncio.create_task(_collect(hub, services, job_id)) for _ in range(25)]
        await asyncio.sleep(0.2)
        assert hub.subscriber_count == 25
        assert len(await _listener_pids(services)) == 1
        await _publish(services, run_id, job_id, 5, terminal=True)
        results = await asyncio.wait_for(asyncio.gather(*followers), 10)
        assert all(r == list(range(1, 7)) for r in results)  # the queued event, then 5 published
        assert hub.subscriber_count == 0
    finally:
        await hub.stop()


async def _collect(hub, services, job_id) -> list[int]:
    return [row.seq async for row in events.follow_job(hub, services.db, job_id)]


async def test_subscriber_sees_every_event_once_across_a_dropped_connection(client, services):
    run_id, job_id = await _job(client)
    hub = EventHub(DSN, services.db, max_backoff_s=0.2)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        follower = asyncio.create_task(_collect(hub, services, job_id))
        await _publish(services, run_id, job_id, 3)
        await asyncio.sleep(0.2)
        pids = await _listener_pids(services)
        async with services.db() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        # Published while nobody listens: only the replay from stage_events can deliver these.
        await _publish(services, run_id, job_id, 4)
        for _ in range(100):
            if hub.reconnects and hub.connected.is_set():
                break
            await asyncio.sleep(0.05)
        assert hub.reconnects >= 1 and hub.connected.is_set()
        await _publish(services, run_id, job_id, 2, terminal=True)
        seqs = await asyncio.wait_for(follower, 10)
        assert seqs == list(range(1, 11))
    finally:
        await hub.stop()


async def test_replay_that_keeps_failing_ends_the_stream_with_a_clear_error(monkeypatch):
    import pytest
    from sqlalchemy.exc import OperationalError

    class DownDatabase:
        """A session factory whose every query fails, like a Postgres that does not come back."""

        def __call__(self):
            return self

        async def __aenter__(self):
            raise OperationalError("SELECT", {}, ConnectionRefusedError())

        async def __aexit__(self, *exc):
            return False

    async def no_wait(_seconds):
        return None

    monkeypatch.setattr(events.hub.asyncio, "sleep", no_wait)
    hub = EventHub(DSN, DownDatabase())
    import uuid

    with pytest.raises(events.EventStreamLost, match="subscribe again"):
        async for _ in events.follow_job(hub, DownDatabase(), uuid.uuid4()):
            pass
    assert hub.subscriber_count == 0


async def test_inbox_keeps_order_wakes_its_reader_and_turns_an_overflow_into_one_resync():
    from churns_gql.events import hub as hub_module

    sub = Subscriber()
    reader = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    assert not reader.done()
    sub.push("a")  # type: ignore[arg-type]  # any item: the inbox does not look inside
    assert await asyncio.wait_for(reader, 1) == "a"
    for item in ("b", "c"):
        sub.push(item)  # type: ignore[arg-type]
    assert [await sub.get(), await sub.get()] == ["b", "c"]
    for i in range(hub_module._QUEUE_LIMIT + 5):
        sub.push(i)  # type: ignore[arg-type]
    assert sub.pending() == 5 and await sub.get() is RESYNC  # too slow: told to re-read, then the newest
    assert [await sub.get() for _ in range(4)] == [1001, 1002, 1003, 1004]
    reader = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    reader.cancel()  # a reader cancelled while waiting leaves the inbox usable
    sub.push("z")  # type: ignore[arg-type]
    assert await asyncio.wait_for(sub.get(), 1) == "z"


async def test_an_idle_subscription_inbox_with_its_waiting_reader_is_small():
    """Regression (bench P2): each subscription held an asyncio.Queue (four deques), 4.5 KB with its reader."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        subs = [Subscriber() for _ in range(1000)]
        readers = [asyncio.ensure_future(s.get()) for s in subs]
        await asyncio.sleep(0)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_subscription = sum(s.size_diff for s in after.compare_to(before, "filename")) / len(subs)
    for reader in readers:
        reader.cancel()
    assert per_subscription < 2000, per_subscription


async def test_a_failure_code_travels_in_the_notification(client, services):
    """A FAILED event's code reaches followers from the NOTIFY payload itself, as stored."""
    run_id, job_id = await _job(client)
    hub = EventHub(DSN, services.db)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        follower = asyncio.create_task(_rows(hub, services, job_id))
        await asyncio.sleep(0.2)
        await _publish_one(
            services, run_id, job_id, StageStatus.FAILED, message="blocked", code="moderation_blocked", terminal=True
        )
        rows = await asyncio.wait_for(follower, 10)
        assert [(r.status, r.code) for r in rows] == [
            (StageStatus.PENDING, None),
            (StageStatus.FAILED, "moderation_blocked"),
        ]
    finally:
        await hub.stop()


async def _rows(hub, services, job_id) -> list:
    return [row async for row in events.follow_job(hub, services.db, job_id)]


async def test_a_watched_channel_hears_payloads_and_is_told_of_every_gap(services):
    hub = EventHub(DSN, services.db, max_backoff_s=0.2)
    heard: list[str] = []
    gaps: list[int] = []
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        hub.watch("churns_test_watch", heard.append, lambda: gaps.append(hub.reconnects))
        for _ in range(100):  # watched on a live connection: LISTEN, then the gap before it is reported
            if gaps:
                break
            await asyncio.sleep(0.02)
        assert gaps == [0]

        async def notify(payload: str) -> None:
            async with services.db() as session:
                await session.execute(text("SELECT pg_notify('churns_test_watch', :p)"), {"p": payload})
                await session.commit()

        await notify("one")
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.02)
        assert heard == ["one"]
        pids = await _listener_pids(services)
        async with services.db() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        for _ in range(200):
            if len(gaps) == 2:
                break
            await asyncio.sleep(0.02)
        assert gaps == [0, 1]  # listening again after the drop, and told that something may have been missed
        await notify("two")
        for _ in range(100):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.02)
        assert heard == ["one", "two"]
    finally:
        await hub.stop()
