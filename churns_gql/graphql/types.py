"""The schema's object types: ImageVersion, Image, Refinement, Run (Relay nodes), events, connections, errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any, Optional

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from churns_gql import events as event_service
from churns_gql import models
from churns_gql.error_codes import ErrorCode
from churns_gql.geometry import Rect
from churns_gql.graphql.args import After, Before, EventsAfter, First, Last
from churns_gql.graphql.context import Info
from churns_gql.graphql.cursors import encode_cursor
from churns_gql.graphql.enums import JobStatus, RefinementType, StageStatus, UserErrorCode
from churns_gql.graphql.paging import page_info, page_window, run_refinements
from churns_gql.graphql.progress_event import ProgressEvent, event_from_row
from churns_gql.graphql.subtree_depth import children_depth, children_depth_below
from churns_gql.services.errors import Problem
from churns_gql.storage import METADATA_FILE, RunStorage


@strawberry.type(description="An expected, user-correctable problem with a mutation's input.")
class UserError:
    """One coded problem, tied to an input field when it can be."""

    field: Optional[list[str]] = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "mask", "0", "width"]; null when not tied to one.'
    )
    message: str = strawberry.field(description="What is wrong, in words a user can act on.")
    code: UserErrorCode = strawberry.field(description="The kind of problem.")

    @classmethod
    def from_problem(cls, problem: Problem) -> UserError:
        """The GraphQL form of a service Problem."""
        return cls(
            field=list(problem.field) if problem.field else None, message=problem.message, code=ErrorCode(problem.code)
        )


@strawberry.type(description="A rectangle in fractions of the parent image's width and height (0..1, origin top-left).")
class MaskRect:
    """A mask rectangle."""

    x: float = strawberry.field(description="Left edge, fraction of the width.")
    y: float = strawberry.field(description="Top edge, fraction of the height.")
    width: float = strawberry.field(description="Width, fraction of the image width.")
    height: float = strawberry.field(description="Height, fraction of the image height.")

    @classmethod
    def of(cls, rect: Rect) -> MaskRect:
        """The GraphQL form of a rectangle."""
        return cls(x=rect.x, y=rect.y, width=rect.width, height=rect.height)


@strawberry.type(description="One stage of a job: status, timing and cost.")
class StageRun:
    """A stage as its events tell it."""

    name: str = strawberry.field(description="Stage name, as in configs/stage_order.yml.")
    status: StageStatus = strawberry.field(description="Latest status of the stage.")
    started_at: Optional[datetime] = strawberry.field(description="When the stage started.")
    completed_at: Optional[datetime] = strawberry.field(description="When the stage finished.")
    duration_ms: Optional[int] = strawberry.field(description="Milliseconds the stage took.")
    cost_usd: Optional[float] = strawberry.field(description="What the stage cost, in USD.")
    message: Optional[str] = strawberry.field(description="The stage's last message.")

    @classmethod
    def from_summary(cls, s: event_service.StageSummary) -> StageRun:
        """The GraphQL form of a stage summary."""
        return cls(
            name=s.name,
            status=s.status,
            started_at=s.started_at,
            completed_at=s.completed_at,
            duration_ms=s.duration_ms,
            cost_usd=s.cost_usd,
            message=s.message,
        )


@strawberry.interface(
    description="Any image that can be refined: an original output of a run (Image, version 1) "
    "or the result of a refinement (Refinement: v2, v3... numbered per original in creation order)."
)
class ImageVersion(relay.Node):
    """An image in a run's version tree."""

    version: int = strawberry.field(
        description="1 for an original; refinements of one original are numbered 2, 3, 4... in creation order, "
        "unique per original whatever their parent (the lineage is Refinement.depth and Refinement.parent)."
    )
    generation_index: int = strawberry.field(description="Index (0-based) of the original this version descends from.")
    url: Optional[str] = strawberry.field(description="URL of the PNG; null while a refinement has not completed.")
    width: Optional[int] = strawberry.field(description="Width in pixels.")
    height: Optional[int] = strawberry.field(description="Height in pixels.")
    run_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The run this image belongs to.")
    async def run(self, info: Info) -> Run:
        """The owning run."""
        row = await info.context.loaders.run_by_id.load(self.run_id)
        return Run.from_row(row)

    @strawberry.field(
        description="Refinements made from this image, oldest first (recursive: each child has children)."
    )
    async def children(self, info: Info) -> list[Refinement]:
        """Direct refinements of this image."""
        raise NotImplementedError  # each implementation loads its own children


@strawberry.type(description="An original image of a run (version 1).")
class Image(ImageVersion):
    """An original."""

    path: str = strawberry.field(description="Path inside the run folder, e.g. originals/image_0.png")
    raw_id: relay.NodeID[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Image, info: Info) -> Image:
        """The GraphQL form of an original image row."""
        return cls.from_model(row, info.context.storage)

    @classmethod
    def from_model(cls, row: models.Image, storage: RunStorage) -> Image:
        """The GraphQL form of an original image row, its url made by `storage`."""
        return cls(
            raw_id=row.id,
            run_id=row.run_id,
            version=1,
            generation_index=row.generation_index,
            url=storage.url(row.run_id, row.path),
            width=row.width,
            height=row.height,
            path=row.path,
        )

    @strawberry.field(
        description="Refinements made from this image, oldest first (recursive: each child has children)."
    )
    async def children(self, info: Info) -> list[Refinement]:
        """Direct refinements of this original."""
        children = info.context.loaders.children
        rows = children.cached(children.by_image, self.raw_id)
        if rows is None:
            rows = await children.load(children.by_image, self.raw_id, children_depth(info))
        return [Refinement.from_row(r, info) for r in rows]


@strawberry.type(description="The result of refining an Image or another Refinement.")
class Refinement(ImageVersion):
    """A refinement job and its image."""

    type: RefinementType = strawberry.field(description="What the refinement repairs or changes.")
    status: JobStatus = strawberry.field(description="Where the job is in its life cycle.")
    prompt: Optional[str] = strawberry.field(description="PROMPT: what to change.")
    instructions: Optional[str] = strawberry.field(description="SUBJECT and TEXT: what to repair.")
    mask: Optional[list[MaskRect]] = strawberry.field(description="Rectangles the edit was limited to.")
    creativity_level: int = strawberry.field(description="1 = minimal change .. 3 = free reinterpretation.")
    depth: int = strawberry.field(
        description="Steps from the original: 1 for a refinement of the original, parent's depth + 1 otherwise."
    )
    reference_image_url: Optional[str] = strawberry.field(description="URL of the uploaded reference image.")
    summary: Optional[str] = strawberry.field(description="Brief description for display, e.g. 'Add sunset lighting'.")
    cost_usd: Optional[float] = strawberry.field(description="What the refinement cost, in USD.")
    error_message: Optional[str] = strawberry.field(description="Why the refinement failed, when it did.")
    created_at: datetime = strawberry.field(description="When the refinement was requested.")
    started_at: Optional[datetime] = strawberry.field(description="When a worker started it.")
    completed_at: Optional[datetime] = strawberry.field(description="When it reached a final status.")
    raw: strawberry.Private[models.Refinement]
    raw_id: relay.NodeID[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Refinement, info: Info) -> Refinement:
        """The GraphQL form of a refinement row."""
        return cls.from_model(row, info.context.storage)

    @classmethod
    def from_model(cls, row: Any, storage: RunStorage) -> Refinement:
        """The GraphQL form of a refinement (an ORM object or a row of the table's columns), urls by `storage`."""
        done = row.status == models.JobStatus.COMPLETED
        return cls(
            raw_id=row.id,
            run_id=row.run_id,
            raw=row,
            version=row.version,
            generation_index=row.generation_index,
            url=storage.url(row.run_id, row.image_path) if done else None,
            width=row.width,
            height=row.height,
            type=row.type,
            status=row.status,
            prompt=row.prompt,
            instructions=row.instructions,
            mask=[MaskRect.of(Rect.from_dict(r)) for r in row.mask] if row.mask else None,
            creativity_level=row.creativity_level,
            depth=row.depth,
            reference_image_url=storage.url(row.run_id, row.reference_image_path),
            summary=row.summary,
            cost_usd=row.cost_usd,
            error_message=row.error_message,
            created_at=row.created_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
        )

    @strawberry.field(
        description="Refinements made from this image, oldest first (recursive: each child has children)."
    )
    async def children(self, info: Info) -> list[Refinement]:
        """Direct refinements of this refinement."""
        children = info.context.loaders.children
        rows = children.cached(children.by_refinement, self.raw.id)
        if rows is None:
            rows = await children.load(children.by_refinement, self.raw.id, children_depth(info))
        return [Refinement.from_row(r, info) for r in rows]

    @strawberry.field(description="The image this refinement was made from: an Image or another Refinement.")
    async def parent(self, info: Info) -> ImageVersion:
        """The parent version."""
        loaders = info.context.loaders
        if self.raw.parent_refinement_id is not None:
            return Refinement.from_row(await loaders.refinement_by_id.load(self.raw.parent_refinement_id), info)
        assert self.raw.parent_image_id is not None  # the table allows exactly one parent
        return Image.from_row(await loaders.image_by_id.load(self.raw.parent_image_id), info)

    @strawberry.field(description="The lineage from the original down to the parent, original first.")
    async def ancestors(self, info: Info) -> list[ImageVersion]:
        """Original first, then each refinement down to the parent."""
        loaders = info.context.loaders
        root, chain = await loaders.lineage_by_refinement.load(self.raw.id)
        return [Image.from_row(root, info), *(Refinement.from_row(r, info) for r in chain)]

    @strawberry.field(description="The refinement's stages: status, timing and cost.")
    async def stages(self, info: Info) -> list[StageRun]:
        """Stage summaries from the recorded events."""
        rows = await info.context.loaders.events_by_job.load(self.raw.id)
        return [StageRun.from_summary(s) for s in event_service.summarize_stages(rows)]

    @strawberry.field(description="Progress events recorded so far, in order; `after` skips those with seq <= after.")
    async def events(self, info: Info, after: EventsAfter = None) -> list[ProgressEvent]:
        """Recorded events after a seq."""
        rows = await info.context.loaders.events_by_job.load(self.raw.id)
        return [event_from_row(info, r) for r in rows if after is None or r.seq > after]


@strawberry.type(description="A generation run and its images.")
class Run(relay.Node):
    """A run."""

    status: JobStatus = strawberry.field(description="Status of the run's generation.")
    prompt: Optional[str] = strawberry.field(description="What the run was asked to make.")
    platform: Optional[str] = strawberry.field(description="Target platform, e.g. Instagram Post.")
    created_at: datetime = strawberry.field(description="When the run was created.")
    completed_at: Optional[datetime] = strawberry.field(description="When the generation finished.")
    error_message: Optional[str] = strawberry.field(description="Why the generation failed, when it did.")
    generation_cost_usd: float = strawberry.field(description="What generating the originals cost, in USD.")
    raw: strawberry.Private[models.Run]
    raw_id: relay.NodeID[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Run) -> Run:
        """The GraphQL form of a run row."""
        return cls(
            raw_id=row.id,
            raw=row,
            status=row.status,
            prompt=row.prompt,
            platform=row.platform,
            created_at=row.created_at,
            completed_at=row.completed_at,
            error_message=row.error_message,
            generation_cost_usd=row.generation_cost_usd or 0.0,
        )

    @strawberry.field(description="The run's original images, by generationIndex.")
    async def images(self, info: Info) -> list[Image]:
        """Originals of the run (and, when their `children` are asked, their subtrees in the same round trip)."""
        loaders = info.context.loaders
        depth = children_depth_below(info)
        if not depth:
            rows = await loaders.images_by_run.load(self.raw.id)
        else:
            read = loaders.children.read_run(self.raw.id, depth)  # first: its batch goes out first
            rows, complete = await asyncio.gather(loaders.images_by_run.load(self.raw.id), read)
            if complete:
                loaders.children.read_all_children_of(rows)
        return [Image.from_row(r, info) for r in rows]

    @strawberry.field(description="Every refinement of the run, flat, oldest first.")
    async def refinements(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        type: Annotated[
            Optional[RefinementType], strawberry.argument(description="Only refinements of this type.")
        ] = None,
        status: Annotated[
            Optional[JobStatus], strawberry.argument(description="Only refinements in this status.")
        ] = None,
    ) -> RefinementConnection:
        """A page of the run's refinements."""
        from churns_gql.services import refinements as service

        connection = run_refinements(self.raw.id)
        window = page_window(connection, first=first, after=after, last=last, before=before)
        # Autocommit (no BEGIN/ROLLBACK round trips): under READ COMMITTED the page's two statements took
        # a snapshot each inside a transaction too.
        async with info.context.services.reader()() as session:
            page = await service.list_run_refinements(session, self.raw.id, window=window, type=type, status=status)
        edges = [
            relay.Edge(cursor=encode_cursor(connection, r.created_at, r.id), node=Refinement.from_row(r, info))
            for r in page.rows
        ]
        return RefinementConnection(edges=edges, page_info=page_info(page, edges), total_count=page.total)

    @strawberry.field(description="What the run's refinements cost, in USD.")
    async def refinement_cost_usd(self, info: Info) -> float:
        """Sum of refinement costs."""
        return round(await info.context.loaders.refinement_cost_by_run.load(self.raw.id), 6)

    @strawberry.field(description="Generation plus refinements, in USD.")
    async def total_cost_usd(self, info: Info) -> float:
        """Everything the run cost."""
        refinements = await info.context.loaders.refinement_cost_by_run.load(self.raw.id)
        return round((self.raw.generation_cost_usd or 0.0) + refinements, 6)

    @strawberry.field(description="pipeline_metadata.json of the run.")
    async def metadata(self, info: Info) -> Optional[JSON]:
        """The run's metadata file, or null when it has none; its bytes count against the request's budget."""
        budget = info.context.loaders.metadata_bytes
        data: JSON | None = await budget.read_json(info.context.storage, self.raw.id, METADATA_FILE)
        return data

    @strawberry.field(description="The generation's stages: status, timing and cost.")
    async def stages(self, info: Info) -> list[StageRun]:
        """Stage summaries from the run's own events."""
        rows = await info.context.loaders.events_by_job.load(self.raw.id)
        return [StageRun.from_summary(s) for s in event_service.summarize_stages(rows)]


@strawberry.type(name="RefinementConnection", description="A page of refinements.")
class RefinementConnection(relay.Connection[Refinement]):
    """Paginated refinements: Relay's edges and pageInfo, plus the count."""

    total_count: int = strawberry.field(description="Items across all pages, with the filters applied.")


@strawberry.type(name="RunConnection", description="A page of runs.")
class RunConnection(relay.Connection[Run]):
    """Paginated runs: Relay's edges and pageInfo, plus the count."""

    total_count: int = strawberry.field(description="Items across all pages, with the filters applied.")
