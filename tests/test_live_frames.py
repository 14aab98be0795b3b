"""Live progress frames written from the hub's callback (graphql/live_frames.py), and the fallback to the general path."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
import weakref
from datetime import UTC, datetime

import pytest
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from websockets.protocol import State
from websockets.server import ServerProtocol

from churns_gql import events
from churns_gql.events import EventHub
from churns_gql.graphql import live_frames
from churns_gql.graphql.ids import decode_id
from churns_gql.models import StageEvent, StageStatus
from churns_gql.ws_writes import CorkedWebSocketProtocol, _text_frame
from tests.conftest import WSClient, import_images, png_bytes, refine, running_server

RUN_PROGRESS = "subscription($id: ID!) { runProgress(id: $id) { seq stage } }"
REFINEMENT_PROGRESS = "subscription($id: ID!) { refinementProgress(id: $id) { seq stage } }"


def _row(run_id: uuid.UUID, job_id: uuid.UUID, seq: int) -> StageEvent:
    return StageEvent(
        job_id=job_id,
        run_id=run_id,
        seq=seq,
        stage="s",
        status=StageStatus.RUNNING,
        progress=0.1,
        terminal=False,
        created_at=datetime.now(UTC),
    )


async def _parked(sub_of, follower: asyncio.Task) -> None:
    for _ in range(200):
        sub = sub_of()
        if sub is not None and sub.sink is not None:
            return
        assert not follower.done()
        await asyncio.sleep(0.01)
    raise AssertionError("the follower never waited for live events")


async def test_live_events_go_direct_and_what_the_sink_declines_follows_in_order(client, services):
    """Both paths together deliver every event once, in order; the sink is re-armed once the inbox is drained."""
    run = (await import_images(client, [png_bytes()]))["run"]
    run_id = decode_id(run["id"])[1]
    job_id = uuid.uuid4()
    hub = EventHub("postgresql://unused", services.db)
    delivered: list[tuple[str, int]] = []

    def direct(row: StageEvent) -> bool:
        if row.seq in (3, 6):
            return False  # e.g. the client is not reading: the general path takes it, with backpressure
        delivered.append(("direct", row.seq))
        return True

    async def follow() -> None:
        async for row in events.follow_run(hub, services.db, run_id, direct):
            if row.job_id == job_id:
                delivered.append(("yielded", row.seq))

    follower = asyncio.create_task(follow())
    try:

        def sub():
            return next(iter(hub._runs.get(run_id, ())), None)

        await _parked(sub, follower)
        for seq in range(1, 10):
            hub._dispatch(_row(run_id, job_id, seq))
        hub._dispatch(_row(run_id, job_id, 2))  # a duplicate is dropped, as the generator would drop it
        await _parked(sub, follower)
        for seq in (10, 11):
            hub._dispatch(_row(run_id, job_id, seq))
        assert [seq for _, seq in delivered] == list(range(1, 12))
        assert [seq for how, seq in delivered if how == "yielded"] == [3, 4, 5, 6, 7, 8, 9]
        assert delivered[-2:] == [("direct", 10), ("direct", 11)]
    finally:
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower


async def _fan_out(services, client, n_subs: int, n_events: int) -> dict[str, list[int]]:
    async with running_server(services) as url:
        run = (await import_images(client, [png_bytes()]))["run"]
        run_id = decode_id(run["id"])[1]
        async with WSClient(url) as ws:
            ids = [f"op{i}" for i in range(n_subs)]
            for op_id in ids:
                await ws.subscribe(op_id, RUN_PROGRESS, {"id": run["id"]})
            for _ in range(500):  # until every subscription has caught up and waits for live events
                subs = services.hub._runs.get(run_id, ())
                if len(subs) == n_subs and all(sub.sink is not None for sub in subs):
                    break
                await asyncio.sleep(0.01)
            for n in range(n_events):
                async with services.db() as session:
                    await events.publish(
                        session, job_id=run_id, run_id=run_id, stage=f"s{n}", status=StageStatus.RUNNING, progress=0.1
                    )
                    await session.commit()
            got: dict[str, list[int]] = {op_id: [] for op_id in ids}
            for _ in range(n_events * n_subs):
                message = await ws.receive()
                assert message["type"] == "next", message
                assert message["payload"].keys() == {"data"}, message
                event = message["payload"]["data"]["runProgress"]
                assert event["stage"] == f"s{event['seq'] - 1}", message
                got[message["id"]].append(event["seq"])
            with pytest.raises(TimeoutError):  # each event exactly once: nothing further arrives
                await ws.receive(timeout=0.3)
        return got


async def test_live_frames_skip_the_per_subscriber_stream(services, client, monkeypatch):
    """Regression (bench P1): every live event went through a generator chain and send_next per subscriber."""
    general: list[str] = []
    real_send_next = Operation.send_next

    async def counted(self, result):
        general.append(self.id)
        await real_send_next(self, result)

    encoded: list[object] = []
    real_tail = live_frames.frame_tail

    def counted_tail(data):
        encoded.append(data)
        return real_tail(data)

    monkeypatch.setattr(Operation, "send_next", counted)
    monkeypatch.setattr(live_frames, "frame_tail", counted_tail)
    got = await _fan_out(services, client, n_subs=30, n_events=3)
    assert got == {f"op{i}": [1, 2, 3] for i in range(30)}
    assert general == []  # one code path per event: none of the 90 frames took the per-subscriber stream
    assert len(encoded) == 3  # one execution and encoding per event, whatever the number of subscribers


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_a_hand_built_text_frame_is_what_websockets_would_send(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    server = ServerProtocol()
    server.state = State.OPEN
    server.send_text(text.encode())
    assert _text_frame(text.encode()) == b"".join(server.data_to_send())


async def test_a_socket_that_cannot_take_a_frame_now_gets_it_by_the_general_path(services, client, monkeypatch):
    """When the direct write is refused (writes paused), the event and those after it still arrive once, in order."""
    refused = _refuse_seq_2(monkeypatch, 5)
    got = await _fan_out(services, client, n_subs=10, n_events=3)
    assert len(refused) == 5
    assert got == {f"op{i}": [1, 2, 3] for i in range(10)}


async def test_a_run_subscription_starts_with_one_checkout_and_keeps_no_session(client, services):
    """Regression (bench P2): subscribing took two pool checkouts, and the follower's frame kept a closed session."""
    run_id, hub, sessions, counting_db = await _run_with_counted_sessions(client, services)

    follower = asyncio.create_task(_drain(events.follow_run(hub, counting_db, run_id, lambda row: True)))
    try:
        await _parked(lambda: next(iter(hub._runs.get(run_id, ())), None), follower)
        gc.collect()
        assert len(sessions) == 1
        assert all(ref() is None for ref in sessions)
    finally:
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower


async def _drain(stream) -> None:
    async for _ in stream:
        pass


def _operation_tasks() -> list[asyncio.Task]:
    """Live tasks running a websocket operation (one per subscription before parking)."""
    return [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().__qualname__.endswith(".run_operation")]


async def _until(check, what: str) -> None:
    """Wait (up to 5 s) until check() is true; fail with `what` otherwise."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def _publish(services, job_id: uuid.UUID, run_id: uuid.UUID, stage: str, *, terminal: bool = False) -> None:
    """Publish and commit one event of the job."""
    status = StageStatus.COMPLETED if terminal else StageStatus.RUNNING
    async with services.db() as session:
        await events.publish(
            session, job_id=job_id, run_id=run_id, stage=stage, status=status, progress=0.5, terminal=terminal
        )
        await session.commit()


async def test_caught_up_subscriptions_hold_no_task_and_resume_in_order(services, client, monkeypatch):
    """Regression (bench P2): each idle subscription kept its operation task, generator chain and stream alive."""
    refused = _refuse_seq_2(monkeypatch, 3)
    async with running_server(services) as url:
        run = (await import_images(client, [png_bytes()]))["run"]
        run_id = decode_id(run["id"])[1]
        baseline = services.hub.subscriber_count
        async with WSClient(url) as ws:
            ids = [f"op{i}" for i in range(12)]
            for op_id in ids:
                await ws.subscribe(op_id, RUN_PROGRESS, {"id": run["id"]})
            await _until(
                lambda: services.hub.subscriber_count == baseline + 12 and not _operation_tasks(),
                "subscriptions never parked (an operation task each)",
            )
            got: dict[str, list[int]] = {op_id: [] for op_id in ids}
            for n in range(3):
                await _publish(services, run_id, run_id, f"s{n}")
            for _ in range(3 * 12):
                message = await ws.receive()
                assert message["type"] == "next", message
                got[message["id"]].append(message["payload"]["data"]["runProgress"]["seq"])
            assert len(refused) == 3  # three of them took seq 2 (and 3) through a resumed operation
            assert got == {op_id: [1, 2, 3] for op_id in ids}
            await _until(lambda: not _operation_tasks(), "resumed subscriptions never parked again")
            for op_id in ids[:5]:  # a client's complete releases a parked subscription's place in the hub
                await ws.ws.send(json.dumps({"id": op_id, "type": "complete"}))
            await _until(lambda: services.hub.subscriber_count == baseline + 7, "completed ones still subscribed")
            await _publish(services, run_id, run_id, "s3")
            seen = sorted([(await ws.receive())["id"] for _ in range(7)])
            assert seen == sorted(ids[5:])
        await _until(lambda: services.hub.subscriber_count == baseline, "a closed socket left subscribers behind")


async def test_a_parked_refinement_subscription_completes_after_its_terminal_event(services, client):
    """The terminal event is declined by the sink: the operation resumes, sends it, then `complete`."""
    async with running_server(services) as url:
        run = (await import_images(client, [png_bytes()]))["run"]
        run_id = decode_id(run["id"])[1]
        refinement = (await refine(client, run["images"][0]["id"], prompt="make it warmer"))["refinement"]
        job_id = decode_id(refinement["id"])[1]
        async with WSClient(url) as ws:
            await ws.subscribe("r", REFINEMENT_PROGRESS, {"id": refinement["id"]})
            assert (await ws.receive())["payload"]["data"]["refinementProgress"]["seq"] == 1
            await _until(lambda: not _operation_tasks(), "the refinement subscription never parked")
            await _publish(services, job_id, run_id, "edit")
            await _publish(services, job_id, run_id, "done", terminal=True)
            items, last = await ws.collect("r")
            assert [item["data"]["refinementProgress"]["seq"] for item in items] == [2, 3]
            assert last == {"id": "r", "type": "complete"}
            assert not _operation_tasks()


async def test_run_subscriptions_arriving_together_share_one_start_read(client, services):
    """Regression (bench P2): 10,000 subscribers of one run made 10,000 checkouts, one each, at subscribe time."""
    run_id, hub, sessions, counting_db = await _run_with_counted_sessions(client, services)

    followers = [
        asyncio.create_task(_drain(events.follow_run(hub, counting_db, run_id, lambda row: True))) for _ in range(20)
    ]
    try:
        await _until(lambda: all(sub.sink is not None for sub in hub._runs.get(run_id, ())), "never caught up")
        await _until(lambda: len(hub._runs.get(run_id, ())) == 20, "not all subscribed")
        assert len(sessions) == 1
        # A subscriber arriving after that read took its snapshot reads anew, and sees what was committed since.
        await _publish(services, run_id, run_id, "later")
        seen: list[str] = []

        async def late() -> None:
            async for row in events.follow_run(hub, counting_db, run_id, lambda row: True):
                seen.append(row.stage)

        follower = asyncio.create_task(late())
        followers.append(follower)
        await _until(lambda: "later" in seen, "the late subscriber missed an event committed before it subscribed")
        assert len(sessions) == 2
    finally:
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    assert hub.subscriber_count == 0


def _refuse_seq_2(monkeypatch, times: int) -> list[str]:
    """Make direct writes refuse the frames of seq 2 the first `times` times; the refused frames are listed."""
    refused: list[str] = []
    real = CorkedWebSocketProtocol.send_text_now

    def flaky(self, text: str) -> bool:
        if '"seq":2' in text and len(refused) < times:
            refused.append(text)
            return False
        return real(self, text)

    monkeypatch.setattr(CorkedWebSocketProtocol, "send_text_now", flaky)
    return refused


async def _run_with_counted_sessions(client, services):
    """A new run, a hub that never connects, and a session factory that records each session it makes."""
    run = (await import_images(client, [png_bytes()]))["run"]
    sessions: list[weakref.ref] = []

    def counting_db():
        session = services.db()
        sessions.append(weakref.ref(session))
        return session

    return decode_id(run["id"])[1], EventHub("postgresql://unused", services.db), sessions, counting_db
