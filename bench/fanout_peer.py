"""The P1 peer: the least a Python process must do to fan a Postgres notification out to websocket subscribers.

asyncpg LISTEN plus a plain `websockets` server speaking just enough graphql-transport-ws (ack, subscribe,
next). Each event's payload is serialised once; each subscriber's frame splices in only its id. This is the
limit for Python on this machine, against which the API's fan-out is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

import asyncpg
from websockets.asyncio.server import ServerConnection, serve

CHANNEL = "churns_events"
FIELDS = ("seq", "stage", "status", "progress", "terminal")

# run id (global id as sent by the client) → connection → its subscription ids
subscribers: dict[str, dict[ServerConnection, list[str]]] = defaultdict(dict)


async def handle(ws: ServerConnection) -> None:
    """Answer connection_init, record every subscribe; forget the connection when it closes."""
    runs: set[str] = set()
    try:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "connection_init":
                await ws.send('{"type":"connection_ack"}')
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "subscribe":
                run = str(message["payload"]["variables"]["id"])
                subscribers[run].setdefault(ws, []).append(message["id"])
                runs.add(run)
    finally:
        for run in runs:
            subscribers[run].pop(ws, None)


def run_gid(raw_run: str) -> str:
    """The Run's global id as clients send it (the API's own encoding, so subscriptions match)."""
    import uuid

    from churns_gql.graphql.ids import encode_id

    return encode_id("Run", uuid.UUID(raw_run))


async def fan_out(payload: str) -> None:
    """Serialise the event once, then send one frame per subscription with only its id spliced in."""
    event: dict[str, Any] = json.loads(payload)
    if "stage" not in event:
        return
    body = {k: event[k] for k in FIELDS} | {"jobId": event["job"]}
    tail = '","type":"next","payload":{"data":{"runProgress":' + json.dumps(body) + "}}}"
    for ws, ids in list(subscribers.get(run_gid(event["run"]), {}).items()):
        for sid in ids:
            await ws.send('{"id":"' + sid + tail)


async def main(port: int, dsn: str) -> None:
    """LISTEN, serve websockets on loopback, run until interrupted."""
    conn = await asyncpg.connect(dsn)
    # One consumer keeps every subscriber's events in commit order.
    queue: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda _c, _p, _ch, payload: queue.put_nowait(payload))

    async def consume() -> None:
        """Fan out each notification in turn."""
        while True:
            await fan_out(await queue.get())

    consumer = asyncio.create_task(consume())
    async with serve(
        handle,
        "127.0.0.1",
        port,
        subprotocols=["graphql-transport-ws"],
        compression=None,  # type: ignore[list-item]
        max_queue=None,
        ping_interval=None,
    ):
        print("fan-out peer listening", flush=True)
        await asyncio.Future()
    consumer.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run
    with contextlib.suppress(KeyboardInterrupt):
        run(main(args.port, args.dsn))
