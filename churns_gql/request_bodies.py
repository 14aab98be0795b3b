"""Request bodies over ASGI: read whole under a limit, replayed, or counted as they stream in."""

from __future__ import annotations

from typing import Any

from starlette.types import Receive


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past the limit (a disconnect ends it early)."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the already-read body first, then the real channel's messages."""
    replayed = False

    async def again() -> Any:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


class BodyTooLarge(Exception):
    """The request body grew past the limit while streaming in."""


def limited(receive: Receive, limit: int) -> Receive:
    """A receive channel that raises BodyTooLarge once the body streams past `limit` bytes."""
    # Counting as the body streams in refuses a body without a Content-Length before it is all read.
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return wrapped
