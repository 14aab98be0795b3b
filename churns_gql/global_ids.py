"""Relay global ids on the wire: base64 of "TypeName:uuid", read by the API and by its command-line client."""

from __future__ import annotations

import base64
import binascii
import uuid


def decode_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    """(type name, uuid) of a global id, or None when it is not one of ours."""
    try:
        type_name, _, raw = base64.b64decode(global_id.encode(), validate=True).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
