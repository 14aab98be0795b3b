"""Relay global ids: base64 of "TypeName:uuid" (decoding lives in churns_gql.global_ids, shared with the client).

Objects' `id` fields are strawberry.relay's (Node with a NodeID); ids made outside a Node field, such as a
progress event's jobId, are the same relay.GlobalID. Decoding stays strict (validated base64, a uuid), so a
malformed id finds nothing rather than something.
"""

from __future__ import annotations

import uuid
from base64 import b64encode

import strawberry

from churns_gql.global_ids import decode_id

__all__ = ["decode_id", "decode_id_of", "encode_id"]  # decode_id is re-exported for the resolvers


def encode_id(type_name: str, raw_id: uuid.UUID) -> strawberry.ID:
    """The global id of an object: what relay.GlobalID prints, without building one (a tree query makes thousands)."""
    return strawberry.ID(b64encode(f"{type_name}:{raw_id}".encode()).decode())


def decode_id_of(global_id: str, *type_names: str) -> uuid.UUID | None:
    """The uuid of a global id when it names one of `type_names`, else None."""
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] not in type_names:
        return None
    return decoded[1]
