"""Slow clients: a connection that never finishes its request head is closed; normal requests are unaffected."""

from __future__ import annotations

import asyncio
import time

import httpx
import uvicorn

from churns_gql.app import create_app
from churns_gql.http_timeouts import HeaderTimeoutProtocol


class QuickTimeout(HeaderTimeoutProtocol):
    """The production protocol with a short clock, so the test is quick."""

    header_timeout = 0.5


async def _serve(services):
    config = uvicorn.Config(
        create_app(services=services),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        http=QuickTimeout,
        timeout_keep_alive=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def _closed_after(port: int, payload: bytes) -> float:
    """Seconds until the server closes a connection that sent `payload` and then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert data == b""
    return time.monotonic() - started


async def test_partial_headers_and_silent_connections_are_closed(services):
    server, task, port = await _serve(services)
    try:
        results = await asyncio.gather(
            _closed_after(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "),
            _closed_after(port, b""),
            *[_closed_after(port, b"POST /graphql HTTP/1.1\r\n") for _ in range(20)],
        )
        assert all(0.3 < seconds < 2.5 for seconds in results), results
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(3):  # kept alive across requests, each well within the clock
                assert (await http.get("/healthz")).status_code == 200
                await asyncio.sleep(0.3)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def test_serve_runs_the_timed_protocol_with_a_short_keep_alive():
    from churns_gql.cli import uvicorn_protocols
    from churns_gql.http_timeouts import HEADER_TIMEOUT_S, KEEP_ALIVE_S

    options = uvicorn_protocols()
    assert issubclass(options["http"], HeaderTimeoutProtocol)
    assert options["timeout_keep_alive"] == KEEP_ALIVE_S and 0 < KEEP_ALIVE_S <= 30
    assert 0 < HEADER_TIMEOUT_S <= 30
