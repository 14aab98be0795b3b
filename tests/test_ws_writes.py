"""Coalesced websocket writes: one socket write per loop pass, every frame delivered once and in order."""

from __future__ import annotations

import asyncio

import pytest

from churns_gql import cli, events
from churns_gql.graphql.ids import decode_id
from churns_gql.models import StageStatus
from churns_gql.ws_writes import CorkedTransport, CorkedWebSocketProtocol
from tests.conftest import WSClient, import_images, png_bytes, running_server

RUN_PROGRESS = "subscription($id: ID!) { runProgress(id: $id) { seq stage } }"


class StrictTransport(asyncio.Transport):
    """A transport recording writes; writing after close is an error, as on a real socket."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_pass_leave_as_one_write_in_order():
    real = StrictTransport()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    for i in range(100):
        corked.write(f"frame{i};".encode())
    assert real.writes == []  # nothing leaves before the pass ends
    assert corked.get_write_buffer_size() == sum(len(f"frame{i};") for i in range(100))
    await asyncio.sleep(0)
    assert real.writes == [b"".join(f"frame{i};".encode() for i in range(100))]
    corked.write(b"last")
    corked.close()  # a close writes what is queued first
    assert real.writes[-1] == b"last" and real.closed
    await asyncio.sleep(0)
    assert len(real.writes) == 2


class CountingProtocol(CorkedWebSocketProtocol):
    """The production websocket protocol, counting the writes that reach the socket."""

    socket_writes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        real_write = transport.write  # type: ignore[attr-defined]

        def counted(data: bytes) -> None:
            CountingProtocol.socket_writes += 1
            real_write(data)

        transport.write = counted  # type: ignore[attr-defined]
        super().connection_made(transport)


def test_serve_uses_the_corked_websocket_protocol():
    assert cli.uvicorn_protocols()["ws"] is CorkedWebSocketProtocol


async def test_many_subscriptions_on_one_socket_share_writes_and_get_every_event_once_in_order(services, client):
    """Regression (bench P1): each `next` frame was its own socket write; 40 subscriptions now share one per event."""
    async with running_server(services, ws=CountingProtocol) as url:
        run = (await import_images(client, [png_bytes()]))["run"]
        run_id = decode_id(run["id"])[1]
        async with WSClient(url) as ws:
            ids = [f"op{i}" for i in range(40)]
            for op_id in ids:
                await ws.subscribe(op_id, RUN_PROGRESS, {"id": run["id"]})
            await asyncio.sleep(0.5)
            before = CountingProtocol.socket_writes
            for n in range(3):
                async with services.db() as session:
                    await events.publish(
                        session,
                        job_id=run_id,
                        run_id=run_id,
                        stage=f"stage{n}",
                        status=StageStatus.RUNNING,
                        progress=0.1,
                    )
                    await session.commit()
            got: dict[str, list[int]] = {op_id: [] for op_id in ids}
            for _ in range(3 * len(ids)):
                message = await ws.receive()
                assert message["type"] == "next", message
                got[message["id"]].append(message["payload"]["data"]["runProgress"]["seq"])
            writes = CountingProtocol.socket_writes - before
            with pytest.raises(TimeoutError):  # each event exactly once: nothing further arrives
                await ws.receive(timeout=0.3)
        assert got == {op_id: [1, 2, 3] for op_id in ids}
        # 120 frames; a handful of writes (one per pass that produced frames), not one per frame.
        assert writes <= 3 * len(ids) // 4, writes
