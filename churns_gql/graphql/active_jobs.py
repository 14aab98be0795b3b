"""Query.activeJobs: what the caller is waiting for, so a client can list it and offer Cancel after a reload."""

from __future__ import annotations

import strawberry

from churns_gql.graphql.context import Info
from churns_gql.graphql.types import Refinement, Run
from churns_gql.services import active_jobs as service


@strawberry.type(description="The caller's QUEUED and RUNNING jobs, oldest first (at most 50 of each kind).")
class ActiveJobs:
    """Unfinished runs and refinements."""

    runs: list[Run] = strawberry.field(description="Runs whose generation is QUEUED or RUNNING.")
    refinements: list[Refinement] = strawberry.field(description="Refinements QUEUED or RUNNING.")


async def resolve_active_jobs(info: Info) -> ActiveJobs:
    """Both lists, read in one session."""
    caller = info.context.caller
    async with info.context.services.db() as session:
        runs = await service.active_runs(session, caller)
        refinements = await service.active_refinements(session, caller)
    return ActiveJobs(
        runs=[Run.from_row(r) for r in runs], refinements=[Refinement.from_row(r, info) for r in refinements]
    )
