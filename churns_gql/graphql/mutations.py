"""Mutation root: translates inputs to service calls and service problems to userErrors."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Optional

import strawberry
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from churns_gql import models
from churns_gql.graphql.access import load_visible
from churns_gql.graphql.args import NodeId, prebuilt_input
from churns_gql.graphql.context import Info
from churns_gql.graphql.enums import RefinementType, UserErrorCode
from churns_gql.graphql.ids import decode_id, decode_id_of
from churns_gql.graphql.payloads import CancelRefinementPayload, CancelRunPayload, RefineImagePayload, RunPayload
from churns_gql.graphql.types import Refinement, Run, UserError
from churns_gql.models import JobStatus
from churns_gql.queue import GENERATE_JOB, QUEUE_UNAVAILABLE, REFINE_JOB, QueueUnavailable
from churns_gql.services import lifecycle
from churns_gql.services import refinements as refinement_service
from churns_gql.services import runs as run_service
from churns_gql.services.errors import UserInputError
from churns_gql.services.uow import driver_unit_of_work

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@prebuilt_input
@strawberry.input(description="A rectangle in fractions of the parent image (0..1, origin top-left).")
class MaskRectInput:
    """A mask rectangle as input."""

    x: float = strawberry.field(description="Left edge, fraction of the width.")
    y: float = strawberry.field(description="Top edge, fraction of the height.")
    width: float = strawberry.field(description="Width, fraction of the image width.")
    height: float = strawberry.field(description="Height, fraction of the image height.")


@prebuilt_input
@strawberry.input(description="What to refine and how.")
class RefineImageInput:
    """Input of refineImage."""

    parent_id: strawberry.ID = strawberry.field(description="Global id of the Image or Refinement to refine.")
    type: RefinementType = strawberry.field(description="SUBJECT, TEXT or PROMPT.")
    prompt: Optional[str] = strawberry.field(default=None, description="PROMPT: what to change (required for PROMPT).")
    instructions: Optional[str] = strawberry.field(
        default=None,
        description="SUBJECT and TEXT: what to repair (required for TEXT; SUBJECT needs instructions or referenceImage).",
    )
    mask: Optional[list[MaskRectInput]] = strawberry.field(
        default=None, description="PROMPT: restrict the edit to these rectangles; absent = the whole image."
    )
    creativity_level: Optional[int] = strawberry.field(
        default=2, description="1 = minimal change .. 3 = free reinterpretation."
    )
    reference_image: Optional[Upload] = strawberry.field(
        default=None, description="SUBJECT (optional): the subject as it should look. PNG, JPEG or WebP."
    )


@strawberry.input(description="What a new run should generate.")
class CreateRunInput:
    """Input of createRun."""

    prompt: str = strawberry.field(description="What to make.")
    platform: Optional[str] = strawberry.field(default=None, description="Target platform, from configs/platforms.yml.")
    num_images: Optional[int] = strawberry.field(default=1, description="How many images, 1..4.")
    language: Optional[str] = strawberry.field(default="en", description="Language of the promotional text.")
    reference_image: Optional[Upload] = strawberry.field(
        default=None, description="Optional product or subject photo the generation starts from."
    )


@strawberry.input(description="Existing images to make a run from.")
class ImportRunInput:
    """Input of importRun."""

    images: list[Upload] = strawberry.field(
        description="Existing images to refine, PNG, JPEG or WebP; stored as originals/image_N.png."
    )
    prompt: Optional[str] = strawberry.field(default=None, description="What the images were made for.")
    metadata: Optional[JSON] = strawberry.field(default=None, description="Stored as the run's pipeline_metadata.json.")


def _errors(exc: UserInputError) -> list[UserError]:
    return [UserError.from_problem(p) for p in exc.problems]


def _queue_down() -> UserError:
    """The userError of a job the queue did not take."""
    return UserError(field=None, message=QUEUE_UNAVAILABLE, code=UserErrorCode.UNAVAILABLE)


async def _store_run(info: Info, store: Callable[[AsyncSession], Awaitable[models.Run]]) -> models.Run:
    """Add a run with `store` in the request's transaction (a run folder it wrote goes if it does not commit)."""
    async with info.context.unit_of_work() as uow:
        return await store(uow.session)


async def _enqueue(
    info: Info, function: str, model: type[models.Run] | type[models.Refinement], job_id: uuid.UUID
) -> bool:
    """Enqueue a stored job; when the queue is down, end the job FAILED and return False."""
    services = info.context.services
    try:
        await services.queue.enqueue(function, job_id)
        return True
    except QueueUnavailable:
        async with info.context.unit_of_work() as uow:
            await lifecycle.fail_unstarted(uow.session, model, job_id, QUEUE_UNAVAILABLE)
        return False


@strawberry.type(description="Change things: create, import, refine, cancel.")
class Mutation:
    """The mutation root."""

    @strawberry.mutation(description="Start the generation pipeline; returns at once with the run QUEUED.")
    async def create_run(
        self, info: Info, input: Annotated[CreateRunInput, strawberry.argument(description="What to generate.")]
    ) -> RunPayload:
        """Validate and store the run, then enqueue its generation; a failed enqueue ends it FAILED."""
        services = info.context.services
        request = run_service.CreateRunRequest(
            prompt=input.prompt,
            platform=input.platform,
            num_images=input.num_images,
            language=input.language,
            reference_upload=input.reference_image,
            owner_token_id=info.context.caller.token_id,
        )
        try:
            run = await _store_run(
                info, lambda session: run_service.create_run(session, services.storage, services.settings, request)
            )
        except UserInputError as exc:
            return RunPayload(run=None, user_errors=_errors(exc))
        if not await _enqueue(info, GENERATE_JOB, models.Run, run.id):
            failed = await info.context.fresh_loaders().run_by_id.load(run.id)
            return RunPayload(run=Run.from_row(failed), user_errors=[_queue_down()])
        return RunPayload(run=Run.from_row(run), user_errors=[])

    @strawberry.mutation(description="Make a COMPLETED run from existing images, ready to refine.")
    async def import_run(
        self,
        info: Info,
        input: Annotated[
            ImportRunInput, strawberry.argument(description="The images to import and the run's details.")
        ],
    ) -> RunPayload:
        """Store uploaded images as a finished run; nothing is written when any input is wrong."""
        services = info.context.services
        try:
            run = await _store_run(
                info,
                lambda session: run_service.import_run(
                    session,
                    services.storage,
                    services.settings,
                    input.images,
                    input.prompt,
                    input.metadata,
                    owner_token_id=info.context.caller.token_id,
                ),
            )
        except UserInputError as exc:
            return RunPayload(run=None, user_errors=_errors(exc))
        return RunPayload(run=Run.from_row(run), user_errors=[])

    @strawberry.mutation(
        description="Queue a refinement of an image or of a refinement; returns at once with it QUEUED."
    )
    async def refine_image(
        self,
        info: Info,
        input: Annotated[RefineImageInput, strawberry.argument(description="The image to refine and how.")],
    ) -> RefineImagePayload:
        """Validate and store the refinement, then enqueue its job; a failed enqueue ends it FAILED."""
        services = info.context.services
        # With tokens in use the parent must be the caller's: the service reads it from the caller's runs
        # only, so someone else's image answers exactly like a missing one.
        decoded = decode_id(input.parent_id)
        request = refinement_service.RefineRequest(
            parent_type=decoded[0] if decoded else None,
            parent_id=decoded[1] if decoded else None,
            type=input.type,
            prompt=input.prompt,
            instructions=input.instructions,
            mask=[{"x": r.x, "y": r.y, "width": r.width, "height": r.height} for r in input.mask]
            if input.mask is not None
            else None,
            creativity_level=input.creativity_level,
            reference_upload=input.reference_image,
            owner_token_id=info.context.caller.token_id,
        )
        try:
            async with driver_unit_of_work(services.db, services.storage) as work:
                row = await refinement_service.create_refinement(work, services.storage, services.settings, request)
        except UserInputError as exc:
            return RefineImagePayload(refinement=None, user_errors=_errors(exc))
        if not await _enqueue(info, REFINE_JOB, models.Refinement, row.id):
            failed = await info.context.fresh_loaders().refinement_by_id.load(row.id)
            return RefineImagePayload(refinement=Refinement.from_row(failed, info), user_errors=[_queue_down()])
        return RefineImagePayload(refinement=Refinement.from_model(row, services.storage), user_errors=[])

    @strawberry.mutation(
        description="Cancel a QUEUED or RUNNING refinement; cancelling a finished one is a CONFLICT user error."
    )
    async def cancel_refinement(self, info: Info, id: NodeId) -> CancelRefinementPayload:
        """Cancel at once; a running job is also told to stop, and checks between stages."""
        services = info.context.services
        raw_id = decode_id_of(id, "Refinement")
        try:
            if raw_id is None or await load_visible(info, "Refinement", raw_id) is None:
                raise UserInputError.one("NOT_FOUND", "no refinement with that id", "id")
            async with info.context.unit_of_work() as uow:
                row, previous = await lifecycle.cancel_job(uow.session, models.Refinement, raw_id, "refinement")
        except UserInputError as exc:
            return CancelRefinementPayload(refinement=None, user_errors=_errors(exc))
        if previous == JobStatus.RUNNING:
            await services.queue.abort(raw_id)
        assert isinstance(row, models.Refinement)
        return CancelRefinementPayload(refinement=Refinement.from_row(row, info), user_errors=[])

    @strawberry.mutation(description="Cancel a QUEUED or RUNNING run's generation (its refinements are not touched).")
    async def cancel_run(self, info: Info, id: NodeId) -> CancelRunPayload:
        """Cancel at once; a running generation is also told to stop, and checks before each provider call."""
        services = info.context.services
        run_id = decode_id_of(id, "Run")
        if run_id is None or await load_visible(info, "Run", run_id) is None:
            return CancelRunPayload(
                run=None, user_errors=_errors(UserInputError.one("NOT_FOUND", "no run with that id", "id"))
            )
        try:
            async with info.context.unit_of_work() as uow:
                row, previous = await lifecycle.cancel_job(uow.session, models.Run, run_id, "run")
        except UserInputError as exc:
            return CancelRunPayload(run=None, user_errors=_errors(exc))
        if previous == JobStatus.RUNNING:
            await services.queue.abort(run_id)
        assert isinstance(row, models.Run)
        return CancelRunPayload(run=Run.from_row(row), user_errors=[])
