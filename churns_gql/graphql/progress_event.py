"""ProgressEvent: a stored stage event as clients see it, built once per row and shared by its subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import strawberry

from churns_gql import models
from churns_gql.graphql.context import Info
from churns_gql.graphql.enums import StageStatus
from churns_gql.graphql.ids import encode_id


@strawberry.type(description="One progress event of a job.")
class ProgressEvent:
    """A stage event as clients see it."""

    seq: int = strawberry.field(description="Increases by one for every event of the same job, starting at 1.")
    job_id: strawberry.ID = strawberry.field(description="Global id of the Run or Refinement the event belongs to.")
    stage: str = strawberry.field(description="Stage name, or 'job' for job-level events.")
    status: StageStatus = strawberry.field(description="Status the stage reached.")
    progress: float = strawberry.field(description="Progress of the whole job, 0..1.")
    message: Optional[str] = strawberry.field(description="What happened, for people.")
    cost_usd: Optional[float] = strawberry.field(description="Cost incurred by this step, in USD.")
    preview_url: Optional[str] = strawberry.field(
        description="URL of a partial or preview image, when the provider streams one."
    )
    at: datetime = strawberry.field(description="When the event was recorded.")
    terminal: bool = strawberry.field(
        description="True on the job's last event (the job COMPLETED, FAILED or CANCELLED)."
    )
    code: Optional[str] = strawberry.field(
        default=None,
        description=(
            "Stable reason when a stage or the job FAILED, for clients to act on (e.g. moderation_blocked, "
            "timeout, insufficient_quota, invalid_api_key, storage_full); null otherwise."
        ),
    )

    @classmethod
    def from_row(cls, row: models.StageEvent, storage_url: Optional[str]) -> ProgressEvent:
        """The GraphQL form of a stored event; the job id is a Run's when the job is the run itself."""
        type_name = "Run" if row.job_id == row.run_id else "Refinement"
        return cls(
            seq=row.seq,
            job_id=encode_id(type_name, row.job_id),
            stage=row.stage,
            status=row.status,
            progress=row.progress,
            message=row.message,
            cost_usd=row.cost_usd,
            preview_url=storage_url,
            at=row.created_at,
            code=row.code,
            terminal=row.terminal,
        )


def event_from_row(info: Info, row: models.StageEvent) -> ProgressEvent:
    """The ProgressEvent of a row, one per row: subscribers handed the same row share one (see fanout.py)."""
    event = row.__dict__.get("_progress_event")
    if event is None:
        event = ProgressEvent.from_row(row, info.context.storage.url(row.run_id, row.preview_path))
        row.__dict__["_progress_event"] = event
    return event
