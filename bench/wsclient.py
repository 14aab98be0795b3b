"""A lean graphql-transport-ws client: frames are stamped the moment their bytes arrive and parsed later.

A general websocket library spends tens of microseconds per frame before the caller sees it; with a
thousand subscribers on one event that client-side queueing would be measured as server latency. Here
the arrival time is taken first, frames are cut out of the byte stream with a few slices, and JSON is
parsed only after the measurement.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

_TEXT, _BINARY, _CONT, _CLOSE, _PING, _PONG = 1, 2, 0, 8, 9, 10


def _mask(data: bytes, key: bytes) -> bytes:
    """XOR the payload with the 4-byte masking key."""
    n = len(data)
    if n == 0:
        return data
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (clients must mask, RFC 6455 5.3)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + _mask(payload, key)


class Counter:
    """Counts `next` messages across connections and wakes a waiter when a target is reached."""

    def __init__(self) -> None:
        """Nothing counted yet."""
        self.count = 0
        self._target: int | None = None
        self._reached = asyncio.Event()

    def hit(self) -> None:
        """One more `next` arrived."""
        self.count += 1
        if self._target is not None and self.count >= self._target:
            self._reached.set()

    async def quiet(self, idle_s: float = 0.5, timeout: float = 30.0) -> bool:
        """Wait until no `next` has arrived for idle_s; False if messages keep coming past the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.count
            await asyncio.sleep(idle_s)
            if self.count == seen:
                return True
        return False

    async def wait(self, target: int, timeout: float) -> bool:
        """True once `target` messages have arrived in all, False if the timeout passes first."""
        self._target = target
        self._reached.clear()
        if self.count >= target:
            return True
        try:
            await asyncio.wait_for(self._reached.wait(), timeout)
            return True
        except TimeoutError:
            return False


class GqlWs(asyncio.Protocol):
    """One graphql-transport-ws connection; `messages` holds (arrival ns, raw payload) in arrival order."""

    def __init__(self, counter: Counter | None = None) -> None:
        """Wait for the transport; `counter`, if given, counts this connection's `next` messages."""
        self.counter = counter
        self.transport: asyncio.Transport | None = None
        self.messages: list[tuple[int, bytes]] = []
        self.closed = asyncio.Event()
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._fragments: list[bytes] | None = None
        self._arrived = asyncio.Event()
        self._cursor = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake every waiter: nothing more will arrive."""
        self.closed.set()
        self._arrived.set()
        if not self._handshake.done():
            self._handshake.set_exception(ConnectionError("closed during the websocket handshake"))

    def data_received(self, data: bytes) -> None:
        """Stamp, then cut complete frames out of the buffer."""
        now = time.perf_counter_ns()
        self._buf += data
        if not self._handshake.done():
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self._handshake.set_exception(ConnectionError(f"handshake refused: {head[:200]!r}"))
                return
            self._handshake.set_result(None)
        buf, pos, size = self._buf, 0, len(self._buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size < start + length:
                break
            self._on_frame(b0 & 0x0F, bool(b0 & 0x80), bytes(buf[start : start + length]), now)
            pos = start + length
        if pos:
            del buf[:pos]

    def _on_frame(self, opcode: int, fin: bool, payload: bytes, now: int) -> None:
        """Assemble messages, answer pings, acknowledge a close."""
        if opcode in (_TEXT, _BINARY, _CONT):
            if opcode != _CONT:
                self._fragments = []
            if self._fragments is None:
                return
            self._fragments.append(payload)
            if not fin:
                return
            message, self._fragments = b"".join(self._fragments), None
            self.messages.append((now, message))
            if self.counter is not None and b'"next"' in message:
                self.counter.hit()
            self._arrived.set()
        elif opcode == _PING and self.transport is not None:
            self.transport.write(_frame(_PONG, payload))
        elif opcode == _CLOSE and self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(_CLOSE, payload[:2]))
            self.transport.close()

    # the graphql-transport-ws side

    def send(self, message: dict[str, Any]) -> None:
        """Send one protocol message."""
        assert self.transport is not None
        self.transport.write(_frame(_TEXT, json.dumps(message).encode()))

    def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        """Start a subscription."""
        self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def next_message(self, timeout: float) -> dict[str, Any]:
        """The next message after the ones already returned, parsed, with its arrival time in `_at_ns`."""
        deadline = time.monotonic() + timeout
        while self._cursor >= len(self.messages):
            if self.closed.is_set():
                raise ConnectionError("the websocket closed")
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no websocket message in time")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                raise TimeoutError("no websocket message in time") from None
        at, raw = self.messages[self._cursor]
        self._cursor += 1
        message = json.loads(raw)
        message["_at_ns"] = at
        return message

    async def wait_message(self, accept: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Skip messages until one that `accept`s; answers graphql-transport-ws pings on the way."""
        deadline = time.monotonic() + timeout
        for _ in range(1_000_000):
            message = await self.next_message(max(0.0, deadline - time.monotonic()))
            if message.get("type") == "ping":
                self.send({"type": "pong"})
            if accept(message):
                return message
        raise TimeoutError("too many messages")

    def close(self) -> None:
        """Close politely (1000) and drop the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(_CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()


async def connect(
    host: str,
    port: int,
    *,
    path: str = "/graphql",
    counter: Counter | None = None,
    payload: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> GqlWs:
    """Open a websocket, speak connection_init and wait for connection_ack."""
    loop = asyncio.get_running_loop()
    _transport, proto = await asyncio.wait_for(loop.create_connection(lambda: GqlWs(counter), host, port), timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    proto.transport.write(
        (  # type: ignore[union-attr]
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    try:
        await asyncio.wait_for(asyncio.shield(proto._handshake), timeout)
        proto.send({"type": "connection_init", "payload": payload or {}})
        await proto.wait_message(lambda m: m.get("type") == "connection_ack", timeout)
    except BaseException:
        proto.close()
        raise
    return proto
