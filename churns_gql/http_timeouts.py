"""Slow-client protection for uvicorn: a request's headers must arrive within a time limit."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Long enough for a slow mobile link to send a few KB of headers, short enough that a thousand
# half-open connections (slowloris) are shed in seconds.
HEADER_TIMEOUT_S = 10.0
# Idle time allowed between requests on a kept-alive connection (uvicorn's own timer).
KEEP_ALIVE_S = 5


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers do not complete in time.

    uvicorn only times out idle kept-alive connections; one that sends half a header and stops would
    be held open forever.
    """

    header_timeout: float = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection must send a complete request head in time."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """Each request on a kept-alive connection starts the clock again."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        """The head arrived: the body and the response have their own limits."""
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """No timer outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        """Start the header clock unless it is already running."""
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        """Stop the header clock."""
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        """Close a connection whose headers took too long."""
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
