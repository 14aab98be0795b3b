"""Subscription root: live progress of refinements and runs."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from churns_gql import events
from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.access import load_visible
from churns_gql.graphql.args import NodeId
from churns_gql.graphql.context import Info
from churns_gql.graphql.errors import PublicError
from churns_gql.graphql.ids import decode_id_of
from churns_gql.graphql.live_frames import direct_sender, parker, resuming
from churns_gql.graphql.progress_event import ProgressEvent, event_from_row


async def _progress(info: Info, type_name: str, global_id: str, follow: Any) -> AsyncGenerator[ProgressEvent, None]:
    """The events `follow` yields for a visible Run or Refinement; an unrecoverable gap ends the stream.

    Live events the socket can take at once are written by `follow`'s direct sender instead (live_frames.py).
    """
    raw_id = decode_id_of(global_id, type_name)
    # A parked subscription resumed: visibility was checked when it started, its position is where it was.
    resume = resuming.get()
    if resume is None and await load_visible(info, type_name, raw_id) is None:
        raise PublicError(f"no {type_name.lower()} with that id", ErrorCode.NOT_FOUND)
    services = info.context.services
    direct = direct_sender(info)
    park = parker() if direct is not None else None
    try:
        async for row in follow(services.hub, services.db, raw_id, direct, park, resume):
            yield event_from_row(info, row)
    except events.EventStreamLost as exc:
        raise PublicError(str(exc), ErrorCode.UNAVAILABLE) from exc


@strawberry.type(description="Follow jobs live.")
class Subscription:
    """The subscription root."""

    @strawberry.subscription(
        description="Events of one refinement: first those already recorded, then live ones; completes after the terminal event."
    )
    async def refinement_progress(self, info: Info, id: NodeId) -> AsyncGenerator[ProgressEvent, None]:
        """Recorded then live events of a refinement."""
        async for event in _progress(info, "Refinement", id, events.follow_job):
            yield event

    @strawberry.subscription(
        description="Events of a run's generation and of all its refinements, live, for as long as the client stays."
    )
    async def run_progress(self, info: Info, id: NodeId) -> AsyncGenerator[ProgressEvent, None]:
        """Live events of a run and its refinements."""
        async for event in _progress(info, "Run", id, events.follow_run):
            yield event
