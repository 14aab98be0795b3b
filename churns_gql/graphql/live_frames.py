"""Live progress frames written from the hub's callback: no task, generator or Strawberry step per subscriber.

Once a runProgress/refinementProgress subscription on graphql-transport-ws has delivered its history it
waits for live events. The hub hands each in-order live event to its sink (`events.follow_run(direct=…)`),
which runs the event's shared execution (fanout.py: once per document, variables and event) and writes
`{"id":"<id>"` plus the event's once-encoded rest straight into the socket's write buffer
(`ws_writes.send_text_now`). Anything else — a result with errors or still awaiting, extensions that wrap
results or add to them, a client not reading (writes paused), an operation completing, the legacy graphql-ws
protocol — is declined and takes the general path (the follower's generator, graphql-core, Strawberry's
stream, the handler), after everything sent before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from churns_gql.graphql.context import Info
from churns_gql.graphql.fanout import SHARED_FIELDS, frame_tail, subscription_executor, variables_key
from churns_gql.graphql.stream_hooks import current_runner
from churns_gql.graphql.types import event_from_row
from churns_gql.models import StageEvent
from churns_gql.ws_writes import SEND_TEXT_NOW

# Where a row keeps the encoded tails of its `next` frames, by (document, variables).
_TAILS = "_next_frame_tails"

# The graphql-transport-ws handler and operation running in this task.
current_operation: ContextVar[tuple[Any, Any] | None] = ContextVar("churns_ws_operation", default=None)


class DirectFrames:
    """A graphql-transport-ws handler mixin noting each operation for its own task, for direct_sender."""

    async def run_operation(self, operation: Any) -> None:
        """Run the operation as the base handler does, with it noted in the task's context."""
        current_operation.set((self, operation))
        await super().run_operation(operation)  # type: ignore[misc]  # a mixin: the handler defines it


def _send_now(handler: Any) -> Callable[[str], bool] | None:
    socket = getattr(handler.websocket, "ws", None)
    scope = getattr(socket, "scope", None) or {}
    send: Callable[[str], bool] | None = (scope.get("extensions") or {}).get(SEND_TEXT_NOW)
    return send


def _shared_root(executor: Any) -> bool:
    selections = executor.operation.selection_set.selections
    name = getattr(selections[0], "name", None) if len(selections) == 1 else None
    return name is not None and name.value in SHARED_FIELDS


def direct_sender(info: Info) -> Callable[[StageEvent], bool] | None:
    """For the subscription running in this task, a callable writing one event's `next` frame now (or None).

    It returns False, having sent nothing, whenever the event must take the general path.
    """
    found = current_operation.get()
    executor = subscription_executor.get()
    runner = current_runner.get()
    if found is None or executor is None or runner is None or not _shared_root(executor):
        return None
    handler, operation = found
    send_now = _send_now(handler)
    if send_now is None:
        return None
    operations = handler.operations
    op_id = operation.id
    prefix = '{"id":' + json.dumps(op_id)
    document = executor.operation
    # Subscribers of one document and variables share the event's encoded tail, cached on the event row.
    key = (id(document), variables_key(executor.variable_values))

    def tail_of(row: StageEvent) -> str | None:
        result = executor.build_per_event_executor(event_from_row(info, row)).execute_operation(False)
        if executor.is_awaitable(result):
            # The shared execution stays cached (fanout.py): the general path awaits that, not a second one.
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return None
        if result.errors or result.extensions or not isinstance(result.data, dict):
            return None
        return frame_tail(result.data)

    def deliver(row: StageEvent) -> bool:
        if operation.completed or operations.get(op_id) is not operation or not runner.plain_results():
            return False
        tails: dict[tuple[Any, ...], tuple[Any, str]] | None = row.__dict__.get(_TAILS)
        if tails is None:
            tails = row.__dict__[_TAILS] = {}
        entry = tails.get(key)
        if entry is not None and entry[0] is document:
            tail = entry[1]
        else:
            found = tail_of(row)
            if found is None:
                return False
            tail = found
            # The entry holds the document, so its id stays unique while the row is dispatched.
            tails[key] = (document, tail)
        sent: bool = send_now(prefix + tail)
        return sent

    return deliver
