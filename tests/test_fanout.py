"""Shared execution of progress events: one execution per event and document, right data for every shape."""

from __future__ import annotations

import asyncio

from churns_gql import events
from churns_gql.graphql import fanout
from churns_gql.graphql.ids import decode_id
from churns_gql.models import StageStatus
from tests.conftest import WSClient, import_images, png_bytes

FULL = "subscription($id: ID!) { runProgress(id: $id) { seq stage status message } }"
NARROW = "subscription($id: ID!) { runProgress(id: $id) { seq } }"


async def _publish(services, run_id, message: str) -> None:
    """Commit one RUNNING strategy event of the run (its NOTIFY reaches the subscribers)."""
    async with services.db() as session:
        await events.publish(
            session,
            job_id=run_id,
            run_id=run_id,
            stage="strategy",
            status=StageStatus.RUNNING,
            progress=0.2,
            message=message,
        )
        await session.commit()


async def test_subscribers_share_one_execution_and_each_gets_its_own_shape(live_server, client, services, monkeypatch):
    executed = []
    original = fanout._SharedEvent.execute_operation

    def counting(self, serially=None):
        if fanout._RESULTS.get(self.key) is None:
            executed.append(self.key)
        return original(self, serially)

    monkeypatch.setattr(fanout._SharedEvent, "execute_operation", counting)
    run = (await import_images(client, [png_bytes()]))["run"]
    run_id = decode_id(run["id"])[1]
    async with WSClient(live_server) as a, WSClient(live_server) as b, WSClient(live_server) as c:
        for ws in (a, b):
            await ws.subscribe("1", FULL, {"id": run["id"]})
        await c.subscribe("1", NARROW, {"id": run["id"]})
        await asyncio.sleep(0.3)
        await _publish(services, run_id, "thinking")
        got = [await ws.receive() for ws in (a, b, c)]
    full = {"seq": 1, "stage": "strategy", "status": "RUNNING", "message": "thinking"}
    assert got[0]["payload"]["data"]["runProgress"] == full
    assert got[1]["payload"]["data"]["runProgress"] == full
    assert got[2]["payload"]["data"]["runProgress"] == {"seq": 1}
    # Two documents, one event: two executions for three subscribers.
    assert len(executed) == 2


async def test_shared_result_is_encoded_once_and_each_frame_carries_its_own_id(
    live_server, client, services, monkeypatch
):
    """Regression (bench P1): every subscriber's `next` frame was JSON-encoded anew; now once per shared result."""
    encoded = []
    original = fanout._FRAMES.put

    def counting(key, pinned, tail):
        encoded.append(tail)
        return original(key, pinned, tail)

    monkeypatch.setattr(fanout._FRAMES, "put", counting)
    run = (await import_images(client, [png_bytes()]))["run"]
    run_id = decode_id(run["id"])[1]
    async with WSClient(live_server) as a, WSClient(live_server) as b, WSClient(live_server) as c:
        await a.subscribe("first", FULL, {"id": run["id"]})
        await b.subscribe('second "quoted"', FULL, {"id": run["id"]})
        await c.subscribe("third", NARROW, {"id": run["id"]})
        await asyncio.sleep(0.3)
        await _publish(services, run_id, 'say "hi"')
        got = [await ws.receive() for ws in (a, b, c)]
    assert [m["id"] for m in got] == ["first", 'second "quoted"', "third"]
    assert all(m["type"] == "next" for m in got)
    assert (
        got[0]["payload"]
        == got[1]["payload"]
        == {"data": {"runProgress": {"seq": 1, "stage": "strategy", "status": "RUNNING", "message": 'say "hi"'}}}
    )
    assert got[2]["payload"] == {"data": {"runProgress": {"seq": 1}}}
    # Two documents, three subscribers: two encodings.
    assert len(encoded) == 2


async def test_subscribers_of_a_shared_event_build_one_per_event_executor(live_server, client, services, monkeypatch):
    """Regression (bench P1): every subscriber copied the subscription's executor, even when its result was shared."""
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    built = []
    original = StrawberryGraphQLCoreExecutionContext.build_per_event_executor

    def counting(self, payload):
        built.append(payload)
        return original(self, payload)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "build_per_event_executor", counting)
    run = (await import_images(client, [png_bytes()]))["run"]
    run_id = decode_id(run["id"])[1]
    async with WSClient(live_server) as ws:
        for op_id in ("1", "2", "3"):
            await ws.subscribe(op_id, FULL, {"id": run["id"]})
        # A first event proves all three are live (a slow start would read it back from history instead,
        # with an executor of its own); only then is sharing what is measured.
        await _publish(services, run_id, "warming up")
        assert sorted([(await ws.receive())["id"] for _ in range(3)]) == ["1", "2", "3"]
        built.clear()
        await _publish(services, run_id, "thinking")
        got = sorted([(await ws.receive())["id"] for _ in range(3)])
    assert got == ["1", "2", "3"]
    assert len(built) == 1
