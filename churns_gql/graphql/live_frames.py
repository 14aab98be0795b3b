"""Live progress frames written from the hub's callback: no task, generator or Strawberry step per subscriber.

Once a runProgress/refinementProgress subscription on graphql-transport-ws has delivered its history it
waits for live events. The hub hands each in-order live event to its sink (`events.follow_run(direct=…)`),
which runs the event's shared execution (fanout.py: once per document, variables and event) and writes
`{"id":"<id>"` plus the event's once-encoded rest straight into the socket's write buffer
(`ws_writes.send_text_now`). Anything else — a result with errors or still awaiting, extensions that wrap
results or add to them, a client not reading (writes paused), an operation completing, the legacy graphql-ws
protocol — is declined and takes the general path (the follower's generator, graphql-core, Strawberry's
stream, the handler), after everything sent before it.

A caught-up follower parks (`parker`): the handler keeps its position and the operation's task ends, taking
the generator chain, graphql-core's and Strawberry's per-operation state with it, so an idle subscription is
the hub's subscriber, its sink and this position. The first item the sink declines wakes the operation: a new
task runs it again from that position (no visibility check or history read again), which delivers the
declined item and everything after it through the general path, in order, and parks again once caught up.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from churns_gql.events import Parked, Position
from churns_gql.graphql.context import Info
from churns_gql.graphql.fanout import SHARED_FIELDS, frame_tail, subscription_executor, variables_key
from churns_gql.graphql.progress_event import event_from_row
from churns_gql.graphql.stream_hooks import current_runner
from churns_gql.models import StageEvent
from churns_gql.ws_writes import SEND_TEXT_NOW

# Where a row keeps the encoded tails of its `next` frames, by (document, variables).
_TAILS = "_next_frame_tails"

# The graphql-transport-ws handler and operation running in this task.
current_operation: ContextVar[tuple[Any, Any] | None] = ContextVar("churns_ws_operation", default=None)
# The parked position an operation's task resumes from (set only in the task a wake-up starts).
resuming: ContextVar[Position | None] = ContextVar("churns_ws_resuming", default=None)


class DirectFrames:
    """A graphql-transport-ws handler mixin noting each operation for its own task, and parking caught-up ones."""

    _parked: dict[str, Position] | None = None

    async def run_operation(self, operation: Any) -> None:
        """Run the operation as the base handler does, with it noted in the task's context; a park ends it quietly."""
        current_operation.set((self, operation))
        resumed = resuming.get()
        parked = False
        try:
            await super().run_operation(operation)  # type: ignore[misc]  # a mixin: the handler defines it
        except Parked:
            parked = True
        finally:
            # A resumed task cancelled before its follower ran would otherwise leave the subscriber in the hub.
            if resumed is not None and not parked:
                resumed.release()

    def park(self, operation: Any, pos: Position) -> bool:
        """Keep `pos` for the operation and let its task end; False when the operation is no longer open."""
        if operation.completed or self.operations.get(operation.id) is not operation:  # type: ignore[attr-defined]
            return False
        if self._parked is None:
            self._parked = {}
        self._parked[operation.id] = pos
        pos.sub.wake = lambda: self._resume(operation)
        return True

    def _resume(self, operation: Any) -> None:
        """Run a parked operation again from its position (called from the hub's dispatch)."""
        pos = (self._parked or {}).pop(operation.id, None)
        if pos is None:
            return
        if operation.completed or self.operations.get(operation.id) is not operation:  # type: ignore[attr-defined]
            pos.release()
            return
        context = contextvars.copy_context()
        context.run(resuming.set, pos)
        operation.task = asyncio.create_task(self.run_operation(operation), context=context)
        operation.task.add_done_callback(self._task_done)  # type: ignore[attr-defined]

    async def cleanup_operation(self, operation_id: str) -> None:
        """Forget the operation as the base handler does, releasing its parked position if it has one."""
        pos = (self._parked or {}).pop(operation_id, None)
        if pos is not None:
            pos.release()
        await super().cleanup_operation(operation_id)  # type: ignore[misc]


def parker() -> Callable[[Position], bool] | None:
    """For the graphql-transport-ws operation running in this task, a Park handing its position to the handler."""
    found = current_operation.get()
    if found is None or not isinstance(found[0], DirectFrames):
        return None
    handler, operation = found
    return lambda pos: handler.park(operation, pos)


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
