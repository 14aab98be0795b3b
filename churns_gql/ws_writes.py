"""Websocket writes coalesced per loop pass: one socket write carries every frame queued for that socket.

A progress event reaches every subscription of a socket in the same pass of the event loop; uvicorn
writes each ASGI `websocket.send` to the socket at once, so 100 subscriptions on one socket cost 100
send() system calls per event. Here the frames of one pass are joined into a single write, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import Side, State

# The ASGI scope extension under which the protocol offers send_text_now to the app.
SEND_TEXT_NOW = "churns.send_text_now"


class CorkedTransport:
    """A transport that buffers write() until the end of the current loop pass, then writes once.

    Every other transport operation writes out what is buffered first, so bytes keep their order
    and a close never drops a frame queued before it.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        """Queue bytes for the single write at the end of this loop pass."""
        if not data:
            return
        self._buffer.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued, as one write."""
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Write what is queued, then close."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (queued bytes are discarded, as the transport's own would be)."""
        self._buffer.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        """Whether the underlying transport is closing."""
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        """Flow control on reads, unchanged."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Flow control on reads, unchanged."""
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: the transport's buffer plus this pass's queue."""
        return self._transport.get_write_buffer_size() + sum(len(b) for b in self._buffer)

    def __getattr__(self, name: str) -> Any:
        # Anything else (get_extra_info, set_protocol...) is the real transport's.
        return getattr(self._transport, name)


class CorkedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol writing through a CorkedTransport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up as uvicorn does, then put the corking transport in front of the socket."""
        super().connection_made(transport)
        self.transport = CorkedTransport(self.transport, self.loop)  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        """Accept as uvicorn does, and offer send_text_now to the app through the scope's extensions."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            # The app task is created but has not run yet, so it sees the extension.
            scope["extensions"][SEND_TEXT_NOW] = self.send_text_now

    def send_text_now(self, text: str) -> bool:
        """Queue one text frame without awaiting, as `websocket.send` would; False when it cannot go now.

        It cannot while the client is not reading (writes paused: the caller keeps its own backpressure
        path), before the handshake or after a close.
        """
        if (
            not self.writable.is_set()
            or self.disconnected
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or self.transport.is_closing()
        ):
            return False
        conn = self.conn
        if conn.extensions or conn.side is not Side.SERVER:
            try:
                conn.send_text(text.encode())
            except InvalidState:
                return False
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        if conn.state is not State.OPEN or conn.expect_continuation_frame:
            return False
        self.transport.write(_text_frame(text.encode()))
        return True


def _text_frame(data: bytes) -> bytes:
    """One unmasked, unfragmented, uncompressed text frame (RFC 6455 5.2), as a server sends it."""
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data
