"""Subscription root: live progress of refinements and runs."""

from __future__ import annotations

from typing import AsyncGenerator

import strawberry

from churns_gql.graphql.context import Info
from churns_gql.graphql.errors import PublicError
from churns_gql.graphql.types import ProgressEvent


@strawberry.type(description="Follow jobs live.")
class Subscription:
    """The subscription root."""

    @strawberry.subscription(
        description="Events of one refinement: first those already recorded, then live ones; completes after the terminal event."
    )
    async def refinement_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[ProgressEvent, None]:
        """Recorded then live events of a refinement."""
        raise PublicError("live progress is not available on this server yet")
        yield  # pragma: no cover

    @strawberry.subscription(
        description="Events of a run's generation and of all its refinements, live, for as long as the client stays."
    )
    async def run_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[ProgressEvent, None]:
        """Live events of a run and its refinements."""
        raise PublicError("live progress is not available on this server yet")
        yield  # pragma: no cover
