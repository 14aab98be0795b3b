"""Keyset pagination cursors: opaque to clients, typed per connection, (created_at, id) to the services.

A cursor is Relay's `base64("<Connection>:<created_at>|<id>")` (strawberry.relay.to_base64), so a cursor of one
connection names its connection and is refused by every other one.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta

from strawberry import relay


def encode_cursor(connection: str, created_at: datetime, raw_id: uuid.UUID) -> str:
    """An opaque keyset cursor of `connection`."""
    return relay.to_base64(connection, f"{created_at.isoformat()}|{raw_id}")


def cursor_connection(cursor: str) -> str | None:
    """The connection a cursor was issued by, or None when it is not a cursor at all."""
    decoded = _split(cursor)
    return decoded[0] if decoded else None


def decode_cursor(cursor: str, connection: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) of a cursor of `connection`, or None when it is not one."""
    decoded = _split(cursor)
    if decoded is None or decoded[0] != connection:
        return None
    created, _, raw = decoded[1].partition("|")
    try:
        moment = datetime.fromisoformat(created)
        # The API only issues UTC cursors; a naive or far-offset one (year 1 at +14:00) is not ours and
        # would overflow when the database converts it.
        if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
            return None
        return moment, uuid.UUID(raw)
    except (ValueError, OverflowError):
        return None


def _split(cursor: str) -> tuple[str, str] | None:
    # Strict base64 (relay.from_base64 skips stray characters, so a tampered cursor could still decode).
    try:
        kind, sep, payload = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return (kind, payload) if sep and kind else None
