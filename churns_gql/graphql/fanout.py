"""Progress fan-out: a progress event is executed once per (document, variables), not once per subscriber.

graphql-core runs a subscription's selection set for every subscriber and every event; with a
thousand subscribers that was most of the delivery time. Subscribers of the same document and
variables who receive the same ProgressEvent object (the hub hands every listener the same row,
and `progress_event` turns a row into one shared ProgressEvent) get one shared result.

Only the progress subscriptions share: their events carry no per-caller data (visibility is
checked once, when subscribing), so one result is right for everyone who receives it.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

SHARED_FIELDS = frozenset({"refinementProgress", "runProgress"})
_CACHE_SIZE = 4096


class _SharedResults:
    """A bounded LRU of execution results; each entry keeps its operation and payload alive, so ids stay unique."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple[Any, ...], pinned: Any, result: Any) -> None:
        self.entries[key] = (pinned, result)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


_RESULTS = _SharedResults(_CACHE_SIZE)


def variables_key(values: Any) -> tuple[Any, ...]:
    """A hashable form of an operation's coerced variables."""
    coerced = getattr(values, "coerced", values) or {}
    return tuple(sorted((k, repr(v)) for k, v in coerced.items()))


class _SharedEvent:
    """Stands in for graphql-core's per-event executor and runs the event only if nobody has yet.

    The real per-event executor (a copy of the subscription's) is only built by the subscriber that runs it.
    """

    __slots__ = ("build", "key", "payload", "pinned")

    def __init__(self, build: Any, payload: Any, key: tuple[Any, ...], pinned: Any) -> None:
        self.build = build
        self.payload = payload
        self.key = key
        self.pinned = pinned

    def execute_operation(self, serially: bool | None = None) -> Any:
        """The shared result of this event, computing it on first use."""
        found = _RESULTS.get(self.key)
        if found is not None:
            return _await_shared(found) if isinstance(found, asyncio.Future) else found
        inner = self.build(self.payload)
        result = inner.execute_operation(serially)
        if not inner.is_awaitable(result):
            _RESULTS.put(self.key, self.pinned, result)
            return result
        task = asyncio.ensure_future(result)
        _RESULTS.put(self.key, self.pinned, task)
        return _await_shared(task)


async def _await_shared(task: asyncio.Future[Any]) -> Any:
    # shield: one subscriber leaving must not cancel the execution the others wait for.
    return await asyncio.shield(task)


# The subscription executor of the operation running in this task (read by live_frames).
subscription_executor: ContextVar[Any] = ContextVar("churns_subscription_executor", default=None)


class FanoutExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, sharing progress-event executions across subscribers."""

    def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
        """Strawberry's info; for a subscription's root field, also notes this executor for the operation's task."""
        if path.prev is None and parent_type is self.schema.subscription_type:
            subscription_executor.set(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    def build_per_event_executor(self, payload: Any) -> Any:
        """The per-event executor graphql-core asks for, shared when the subscription allows it."""
        selections = self.operation.selection_set.selections
        name = getattr(selections[0], "name", None) if len(selections) == 1 else None
        if name is None or name.value not in SHARED_FIELDS:
            return super().build_per_event_executor(payload)
        key = (id(self.operation), variables_key(self.variable_values), id(payload))
        return _SharedEvent(super().build_per_event_executor, payload, key, (self.operation, payload))


_FRAMES = _SharedResults(_CACHE_SIZE)


def next_frame(message: Any) -> str | None:
    """The text of a `next` message whose data is a shared result, its JSON encoded once for every subscriber.

    Subscribers of one shared execution get the very same `data` object; only the operation id differs,
    so it is spliced in front of the encoded rest. Messages with errors or extensions are left alone.
    """
    if message.get("type") != "next":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or payload.keys() != {"data"} or not isinstance(payload["data"], dict):
        return None
    return '{"id":' + json.dumps(message["id"]) + frame_tail(payload["data"])


def frame_tail(data: dict[str, Any]) -> str:
    """Everything of a `next` frame after its id, for a shared result's `data`, encoded once per event."""
    key = (id(data),)
    tail: str | None = _FRAMES.get(key)
    if tail is None:
        tail = ',"type":"next","payload":{"data":' + json.dumps(data, separators=(",", ":")) + "}}"
        # The entry pins `data`, so its id cannot be reused by another object while cached.
        _FRAMES.put(key, data, tail)
    return tail


class SharedFrames:
    """A graphql-transport-ws handler mixin sending `next` frames built by next_frame."""

    async def send_message(self, message: Any) -> None:
        """Send a shared `next` frame as text, anything else as the base handler would."""
        frame = next_frame(message)
        if frame is None:
            await super().send_message(message)  # type: ignore[misc]
            return
        try:
            await self.websocket.ws.send_text(frame)  # type: ignore[attr-defined]
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
