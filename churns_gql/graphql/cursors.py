"""Keyset pagination cursors: opaque to clients, (created_at, id) to the services."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta


def encode_cursor(created_at: datetime, raw_id: uuid.UUID) -> str:
    """An opaque keyset cursor."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{raw_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) of a cursor, or None when it is not one."""
    try:
        created, _, raw = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(created)
        # The API only issues UTC cursors; a naive or far-offset one (year 1 at +14:00) is not ours and
        # would overflow when the database converts it.
        if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
            return None
        return moment, uuid.UUID(raw)
    except (ValueError, OverflowError):
        return None
