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
        async with services.db() as session:
            await events.publish(session, job_id=run_id, run_id=run_id, stage="strategy",
                                 status=StageStatus.RUNNING, progress=0.2, message="thinking")
            await session.commit()
        got = [await ws.receive() for ws in (a, b, c)]
    full = {"seq": 1, "stage": "strategy", "status": "RUNNING", "message": "thinking"}
    assert got[0]["payload"]["data"]["runProgress"] == full
    assert got[1]["payload"]["data"]["runProgress"] == full
    assert got[2]["payload"]["data"]["runProgress"] == {"seq": 1}
    # Two documents, one event: two executions for three subscribers.
    assert len(executed) == 2
