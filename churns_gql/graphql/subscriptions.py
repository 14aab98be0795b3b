"""Subscription root: live progress of refinements and runs."""

from __future__ import annotations

from typing import AsyncGenerator

import strawberry

from churns_gql import events
from churns_gql.graphql.access import load_visible
from churns_gql.graphql.context import Info
from churns_gql.graphql.errors import PublicError
from churns_gql.graphql.ids import decode_id_of
from churns_gql.graphql.types import ProgressEvent, event_from_row


@strawberry.type(description="Follow jobs live.")
class Subscription:
    """The subscription root."""

    @strawberry.subscription(
        description="Events of one refinement: first those already recorded, then live ones; completes after the terminal event."
    )
    async def refinement_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[ProgressEvent, None]:
        """Recorded then live events of a refinement."""
        raw_id = decode_id_of(id, "Refinement")
        if await load_visible(info, "Refinement", raw_id) is None:
            raise PublicError("no refinement with that id")
        services = info.context.services
        try:
            async for row in events.follow_job(services.hub, services.db, raw_id):
                yield event_from_row(info, row)
        except events.EventStreamLost as exc:
            raise PublicError(str(exc)) from exc

    @strawberry.subscription(
        description="Events of a run's generation and of all its refinements, live, for as long as the client stays."
    )
    async def run_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[ProgressEvent, None]:
        """Live events of a run and its refinements."""
        raw_id = decode_id_of(id, "Run")
        if await load_visible(info, "Run", raw_id) is None:
            raise PublicError("no run with that id")
        services = info.context.services
        try:
            async for row in events.follow_run(services.hub, services.db, raw_id):
                yield event_from_row(info, row)
        except events.EventStreamLost as exc:
            raise PublicError(str(exc)) from exc
