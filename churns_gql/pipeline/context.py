"""PipelineContext: what the stages of one job share, and how they report progress."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from PIL import Image
from sqlalchemy import select

from churns_gql.concepts import Concept
from churns_gql.config import Settings
from churns_gql.models import JobStatus, Refinement, Run, StageStatus
from churns_gql.providers.base import EditResult, ImageEditor
from churns_gql.services import lifecycle
from churns_gql.storage import RunStorage


class JobCancelled(Exception):
    """The job was cancelled (or otherwise ended) while it ran; stop without writing anything more."""


class StageFailed(Exception):
    """A stage failed with a message a user can act on."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


@dataclass
class WorkerServices:
    """What jobs share in one worker process."""

    settings: Settings
    db: Any
    storage: RunStorage
    editor: ImageEditor


@dataclass
class PipelineContext:
    """State of one job as it moves through its stages."""

    services: WorkerServices
    job_id: uuid.UUID
    run: Run
    refinement: Refinement | None = None
    # Set by load_base_image.
    base_image: Image.Image | None = None
    parent_path: str | None = None
    parent_key: int | uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    reference: Image.Image | None = None
    concept: Concept = field(default_factory=Concept)
    # Set by the edit stage.
    result: EditResult | None = None
    # The current stage's cost and progress, for the events the executor publishes.
    stage_cost: float | None = None
    current_stage: str = ""
    progress: float = 0.0
    # The final stage fills these in; the executor applies them with the COMPLETED transition.
    completion: dict[str, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    cleanup_paths: list[str] = field(default_factory=list)

    @property
    def job_model(self) -> type[Refinement] | type[Run]:
        """The table of the job: refinements, or runs for a generation."""
        return Refinement if self.refinement is not None else Run

    async def publish(self, status: StageStatus, message: str | None = None, *, preview_path: str | None = None,
                      cost_usd: float | None = None) -> None:
        """Record an event of the current stage; raises JobCancelled if the job no longer runs."""
        ok = await lifecycle.publish_if_running(
            self.services.db, self.job_model, self.job_id, stage=self.current_stage, status=status,
            progress=self.progress, message=message, cost_usd=cost_usd, preview_path=preview_path,
        )
        if not ok:
            raise JobCancelled()

    async def check_cancelled(self) -> None:
        """Raise JobCancelled when the job's row says it no longer runs."""
        async with self.services.db() as session:
            status = await session.scalar(select(self.job_model.status).where(self.job_model.id == self.job_id))
        if status != JobStatus.RUNNING:
            raise JobCancelled()
