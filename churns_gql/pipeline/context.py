"""PipelineContext: what the stages of one job share, and how they report progress."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from churns_gql.concepts import Concept
from churns_gql.config import Settings
from churns_gql.models import JobStatus, Refinement, Run, StageStatus
from churns_gql.providers.base import EditResult, GenerationProvider, ImageEditor, StructuredRequest
from churns_gql.providers.generation import check_answer
from churns_gql.providers.generation_answers import Answer
from churns_gql.services import lifecycle
from churns_gql.services.refinements import ParentFile
from churns_gql.services.uow import PendingFiles, unit_of_work
from churns_gql.storage import RunStorage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
A = TypeVar("A", bound=Answer)


async def concurrently(work: Iterable[Awaitable[T]]) -> list[T]:
    """Await all of `work` at once; if any failed, raise the first failure once all have finished."""
    # Siblings of a failed call are left to finish: they are paid for either way, and only a finished
    # call reports the usage its cost is computed from (and the files it wrote, for cleanup).
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type]


class JobCancelled(Exception):
    """The job was cancelled (or otherwise ended) while it ran; stop without writing anything more."""


class StageFailed(Exception):
    """A stage failed with a message a user can act on."""

    def __init__(self, stage: str, message: str, code: str | None = None) -> None:
        """`code` is a stable reason clients can act on (the provider's, e.g. moderation_blocked)."""
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.code = code


@dataclass
class WorkerServices:
    """What jobs share in one worker process."""

    settings: Settings
    db: Any
    storage: RunStorage
    editor: ImageEditor
    # None until the first generation job needs one (made from settings by the job).
    generator: GenerationProvider | None = None


@dataclass
class GenerationState:
    """What the generation stages hand each other; pipeline_metadata.json is written from it."""

    provider: GenerationProvider
    # The user's inputs as createRun stored them in runs.inputs.
    inputs: dict[str, Any]
    reference: Image.Image | None = None
    image_analysis: dict[str, Any] | None = None
    strategies: list[dict[str, Any]] = field(default_factory=list)
    style_guidance: list[dict[str, Any]] = field(default_factory=list)
    concepts: list[dict[str, Any]] = field(default_factory=list)
    final_prompts: list[dict[str, Any]] = field(default_factory=list)
    pictures: list[Image.Image] = field(default_factory=list)
    image_results: list[dict[str, Any]] = field(default_factory=list)
    assessment: list[dict[str, Any]] = field(default_factory=list)
    # USD per stage, including calls whose answers were then rejected: they were paid for.
    costs: dict[str, float] = field(default_factory=dict)
    # What attempts of this job that a worker shutdown interrupted had already spent.
    earlier_attempts_usd: float = 0.0

    @property
    def num_images(self) -> int:
        """How many originals the run makes."""
        return int(self.inputs["num_images"])

    @property
    def size(self) -> tuple[int, int]:
        """The platform's width and height in pixels."""
        platform = self.inputs["platform"]
        return int(platform["width"]), int(platform["height"])

    @property
    def total_cost(self) -> float:
        """Everything the generation has cost so far, in USD."""
        return round(self.earlier_attempts_usd + sum(self.costs.values()), 6)

    def brief(self) -> dict[str, Any]:
        """The user's request as every text stage receives it."""
        keys = ("prompt", "platform", "num_images", "language", "language_name")
        return {**{k: self.inputs.get(k) for k in keys}, "has_reference": self.reference is not None}

    def metadata(self, run_id: uuid.UUID) -> dict[str, Any]:
        """pipeline_metadata.json: the inputs, every stage's output and the costs."""
        return {
            "run_id": str(run_id),
            "provider": self.provider.name,
            "user_inputs": self.inputs,
            "processing_context": {
                "image_analysis_result": self.image_analysis,
                "marketing_strategies": self.strategies,
                "style_guidance": self.style_guidance,
                # Refinements read visual_concept (main_subject, visual_style, promotional_text_visuals) from here.
                "generated_image_prompts": [
                    {"index": i, "source_strategy_index": i, "visual_concept": concept}
                    for i, concept in enumerate(self.concepts)
                ],
                "final_prompts": self.final_prompts,
                "generated_images": self.image_results,
                "image_assessment": self.assessment,
            },
            "cost_summary": {
                "stages": dict(self.costs),
                "earlier_attempts_usd": self.earlier_attempts_usd,
                "total_usd": self.total_cost,
            },
        }


@dataclass
class PipelineContext:
    """State of one job as it moves through its stages."""

    services: WorkerServices
    job_id: uuid.UUID
    run: Run
    refinement: Refinement | None = None
    # The image a refinement edits, read once when the job starts.
    parent: ParentFile | None = None
    # Set by load_base_image.
    base_image: Image.Image | None = None
    reference: Image.Image | None = None
    concept: Concept = field(default_factory=Concept)
    # Set by the edit stage.
    result: EditResult | None = None
    # The current stage's cost and progress, for the events the executor publishes.
    stage_cost: float | None = None
    current_stage: str = ""
    progress: float = 0.0
    # Set for a generation job.
    generation: GenerationState | None = None
    # The final stage fills these in; the executor applies them with the COMPLETED transition.
    completion: dict[str, Any] = field(default_factory=dict)
    # Further writes of the COMPLETED transition, run in its transaction (e.g. a run's Image rows).
    completion_writes: list[Callable[[AsyncSession], Awaitable[None]]] = field(default_factory=list)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # What the job's provider calls cost so far, kept for a job that ends FAILED or CANCELLED too;
    # spend_unknown once a call may have been billed without reporting usage.
    spent_usd: float = 0.0
    spend_unknown: bool = False
    # Files the job wrote that no committed row points at yet: removed unless it completes.
    files: PendingFiles = field(init=False)

    def __post_init__(self) -> None:
        self.files = PendingFiles(self.services.storage)

    @property
    def cleanup_paths(self) -> list[str]:
        """The run files of this job to remove unless it completes (stages append before writing)."""
        return self.files.paths(self.run.id)

    @property
    def job_model(self) -> type[Refinement] | type[Run]:
        """The table of the job: refinements, or runs for a generation."""
        return Refinement if self.refinement is not None else Run

    async def publish(
        self,
        status: StageStatus,
        message: str | None = None,
        *,
        preview_path: str | None = None,
        cost_usd: float | None = None,
        next_stage: str | None = None,
    ) -> None:
        """Record an event of the current stage; raises JobCancelled if the job no longer runs.

        With `next_stage`, that stage's RUNNING event follows in the same transaction: a stage boundary costs one.
        """
        then = []
        if next_stage is not None:
            then.append(
                {"stage": next_stage, "status": StageStatus.RUNNING, "progress": self.progress, "message": "started"}
            )
        async with unit_of_work(self.services.db) as uow:
            ok = await lifecycle.publish_if_running(
                uow.session,
                self.job_model,
                self.job_id,
                stage=self.current_stage,
                status=status,
                progress=self.progress,
                message=message,
                cost_usd=cost_usd,
                preview_path=preview_path,
                then=then,
            )
        if not ok:
            raise JobCancelled()

    async def check_cancelled(self) -> None:
        """Raise JobCancelled when the job's row says it no longer runs."""
        async with self.services.db() as session:
            status = await lifecycle.job_status(session, self.job_model, self.job_id)
        if status != JobStatus.RUNNING:
            raise JobCancelled()

    def record_spend(self, usd: float | None) -> None:
        """Count what one provider call of a refinement cost; None means billed for an unknown amount."""
        if usd is None:
            self.spend_unknown = True
        else:
            self.spent_usd = round(self.spent_usd + usd, 6)

    def spent_cost(self) -> float | None:
        """What the job's calls cost, or None when any of them may have been billed for an unknown amount."""
        return None if self.spend_unknown else self.spent_usd

    def add_cost(self, usd: float | None) -> None:
        """Count a provider call's cost towards the current stage (and the generation's total)."""
        if not usd:
            return
        self.stage_cost = round((self.stage_cost or 0.0) + usd, 6)
        if self.generation is not None:
            costs = self.generation.costs
            costs[self.current_stage] = round(costs.get(self.current_stage, 0.0) + usd, 6)

    async def ask(self, request: StructuredRequest[A]) -> A:
        """The generation provider's answer to a stage's question, as the stage's answer model."""
        assert self.generation is not None
        provider = self.generation.provider
        # Provider calls cost money and time: check before spending, and after in case a cancel came in.
        await self.check_cancelled()
        result = await provider.structured(request)
        self.add_cost(result.cost_usd)
        await self.check_cancelled()
        # Checked after its cost is counted: a misfit answer was paid for all the same.
        return check_answer(request, result.value, provider.name)
