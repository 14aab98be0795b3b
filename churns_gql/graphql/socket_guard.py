"""Websocket auth that outlives connection_init: each operation re-checks its token, revoked sockets are closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.context import Context
from churns_gql.graphql.fanout import SharedFrames
from churns_gql.graphql.live_frames import DirectFrames
from churns_gql.graphql.socket_documents import LegacyDocuments, TransportDocuments
from churns_gql.services.tokens import Caller

log = logging.getLogger("churns_gql.socket_guard")

# Close code for a connection whose credentials stopped being valid (graphql-transport-ws's "Forbidden").
FORBIDDEN = 4403
# How often the guard looks for revoked tokens: a revoked token's sockets close within this (+ one query).
CHECK_INTERVAL_S = 2.0


class SocketGuard:
    """The open websockets of one API process, closed with 4403 when their token is revoked."""

    def __init__(self, gate: Any, interval: float = CHECK_INTERVAL_S) -> None:
        self.gate = gate
        self.interval = interval
        self._handlers: set[Any] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, handler: Any) -> None:
        """Watch one connection's handler (its context carries the caller once connection_init is done)."""
        self._handlers.add(handler)

    def discard(self, handler: Any) -> None:
        """Stop watching a connection that ended."""
        self._handlers.discard(handler)

    def open_sockets(self) -> int:
        """Websockets open on this process."""
        return len(self._handlers)

    def open_operations(self) -> int:
        """Operations (mostly subscriptions) running on those sockets, in either protocol."""
        return sum(len(getattr(h, "operations", None) or getattr(h, "tasks", None) or ()) for h in self._handlers)

    def start(self) -> None:
        """Start the watcher loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="socket-guard")

    async def stop(self) -> None:
        """Stop the watcher loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        """Every interval, one query for all watched tokens; close the sockets of revoked ones."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:
                log.warning("websocket token check failed; retrying", exc_info=True)

    async def sweep(self) -> int:
        """Close every watched socket whose caller is no longer allowed; returns how many were closed."""
        acked = [h for h in self._handlers if h.connection_acknowledged]
        callers: set[Caller] = {h.context.caller for h in acked}
        if not callers:
            return 0
        gone = await self.gate.revoked_among(callers)
        closing = [h for h in acked if h.context.caller in gone]
        for handler in closing:
            self.discard(handler)
            await close_forbidden(handler)
        return len(closing)


async def close_forbidden(handler: Any) -> None:
    """Close a handler's socket with 4403; a socket already gone is fine."""
    with contextlib.suppress(Exception):
        await handler.websocket.close(code=FORBIDDEN, reason="Forbidden: the API token is no longer valid")


async def _allowed(handler: Any, op_id: str, *, legacy: bool = False) -> bool:
    """Whether the connection's caller may still run an operation; closes the socket if not.

    When the check itself cannot run (the database is down), only this operation gets an error:
    the socket and its other subscriptions stay up, as they do through the outage.
    """
    try:
        allowed: bool = await handler.view.services.gate.still_allowed(handler.context.caller)
    except Exception:
        log.warning("could not re-check a websocket token", exc_info=True)
        error = {
            "message": "cannot check the API token right now; try again",
            "extensions": {"code": ErrorCode.UNAVAILABLE.value},
        }
        # graphql-transport-ws sends a list of errors; the legacy graphql-ws protocol one error object.
        payload: Any = error if legacy else [error]
        await handler.send_message({"id": op_id, "type": "error", "payload": payload})
        return False
    if not allowed:
        await close_forbidden(handler)
    return allowed


class _Watched:
    """Registers the connection with the app's SocketGuard for as long as it is open."""

    async def handle(self) -> None:
        """Run the protocol while the guard watches this connection."""
        guard = self.view.services.socket_guard  # type: ignore[attr-defined]  # a mixin: the handler has .view
        if guard is not None:
            guard.add(self)
        try:
            await super().handle()  # type: ignore[misc]  # a mixin: the handler class defines handle
        finally:
            if guard is not None:
                guard.discard(self)


class GuardedTransportWSHandler(
    DirectFrames, SharedFrames, _Watched, TransportDocuments, BaseGraphQLTransportWSHandler[Context, None]
):
    """graphql-transport-ws with the token re-checked on every subscribe message."""

    async def handle_connection_init(self, message: Any) -> None:
        """Accept `payload: null`: the protocol makes the payload optional, and null is how some clients omit it."""
        if message.get("payload", {}) is None:
            message = {**message, "payload": {}}
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: Any) -> None:
        """Refuse (4403) an operation whose token was revoked since connection_init."""
        if self.connection_acknowledged and not await _allowed(self, message["id"]):
            return
        await super().handle_subscribe(message)


class GuardedWSHandler(_Watched, LegacyDocuments, BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol with the token re-checked on every start message."""

    async def handle_start(self, message: Any) -> None:
        """Refuse (4403) an operation whose token was revoked since connection_init."""
        if self.connection_acknowledged and not await _allowed(self, message["id"], legacy=True):
            return
        await super().handle_start(message)
