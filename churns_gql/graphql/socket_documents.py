"""Websocket operations before they run: the per-connection limit and persisted documents, refused with codes."""

from __future__ import annotations

from typing import Any

from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.persisted import DocumentRefused

LIMIT_MESSAGE = "Subscription limit reached"
"""Strawberry's message for the per-connection limit, kept so clients matching on it still match."""


def _limit_error(limit: int) -> dict[str, Any]:
    return {"message": LIMIT_MESSAGE, "extensions": {"code": ErrorCode.QUOTA_EXCEEDED.value, "limit": limit}}


def _too_long(query: Any, max_bytes: int) -> dict[str, Any] | None:
    """The size-limit error for a document over the limit (checked here: over a websocket the parse
    hook's error would not reach the client with its code)."""
    if isinstance(query, str) and 0 < max_bytes < len(query):
        return {
            "message": f"the query is {len(query):,} characters; the limit is {max_bytes:,}",
            "extensions": {"code": ErrorCode.QUERY_TOO_COMPLEX.value},
        }
    return None


async def _prepared(handler: Any, payload: Any) -> tuple[Any, dict[str, Any] | None]:
    """The payload with its document resolved, or the coded error refusing it."""
    if not isinstance(payload, dict):
        return payload, None  # the protocol handler reports a malformed message itself
    services = handler.view.services
    try:
        query = await services.documents.resolve(payload.get("query"), payload.get("extensions"))
    except DocumentRefused as refused:
        return payload, refused.as_error()
    error = _too_long(query, services.settings.max_query_bytes)
    return ({**payload, "query": query} if query is not None else payload), error


class TransportDocuments:
    """graphql-transport-ws `subscribe`: coded limit errors and persisted documents (extensions.persistedQuery)."""

    async def handle_subscribe(self, message: Any) -> None:
        """Refuse over the limit or with an unusable document (an `error` message); run the resolved document."""
        handler: Any = self
        if handler.connection_acknowledged and message.get("id") not in handler.operations:
            limit = handler.max_subscriptions_per_connection
            if limit is not None and len(handler.operations) >= limit:
                await handler.send_message({"id": message["id"], "type": "error", "payload": [_limit_error(limit)]})
                return
            payload, error = await _prepared(handler, message.get("payload"))
            if error is not None:
                await handler.send_message({"id": message["id"], "type": "error", "payload": [error]})
                return
            message = {**message, "payload": payload}
        await super().handle_subscribe(message)  # type: ignore[misc]  # a mixin over the protocol handler


class LegacyDocuments:
    """The legacy graphql-ws `start`: the same checks, its `error` payload being one error object."""

    async def handle_start(self, message: Any) -> None:
        """Refuse over the limit or with an unusable document; run the resolved document."""
        handler: Any = self
        if handler.connection_acknowledged:
            limit = handler.max_subscriptions_per_connection
            replacing = message.get("id") in handler.tasks
            if limit is not None and not replacing and len(handler.tasks) >= limit:
                await handler.send_message({"id": message["id"], "type": "error", "payload": _limit_error(limit)})
                return
            payload, error = await _prepared(handler, message.get("payload"))
            if error is not None:
                await handler.send_message({"id": message["id"], "type": "error", "payload": error})
                return
            message = {**message, "payload": payload}
        await super().handle_start(message)  # type: ignore[misc]  # a mixin over the protocol handler
