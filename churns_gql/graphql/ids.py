"""Relay global ids: base64 of "TypeName:uuid"."""

from __future__ import annotations

import base64
import binascii
import uuid

import strawberry


def encode_id(type_name: str, raw_id: uuid.UUID) -> strawberry.ID:
    """The global id of an object."""
    return strawberry.ID(base64.b64encode(f"{type_name}:{raw_id}".encode()).decode())


def decode_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    """(type name, uuid) of a global id, or None when it is not one of ours."""
    try:
        type_name, _, raw = base64.b64decode(global_id.encode(), validate=True).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def decode_id_of(global_id: str, *type_names: str) -> uuid.UUID | None:
    """The uuid of a global id when it names one of `type_names`, else None."""
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] not in type_names:
        return None
    return decoded[1]
