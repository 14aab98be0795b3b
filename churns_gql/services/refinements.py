"""Refinements: the version tree's SQL (children, run lists) and stage summaries."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.concepts import concept_from_metadata
from churns_gql.config import Settings
from churns_gql.db import Page, Window, keyset_page, rows_by_id
from churns_gql.geometry import Rect
from churns_gql.models import Image, JobStatus, Refinement, RefinementCount, RefinementType
from churns_gql.offline_rules.support import offline_supports
from churns_gql.offline_rules.text_rules import quoted_text
from churns_gql.services import admission, lifecycle, quotas, run_index
from churns_gql.services.admission import Parent
from churns_gql.services.errors import Problem, UserInputError
from churns_gql.services.openai_checks import check_refine_request
from churns_gql.services.runs import check_text, validate_reference
from churns_gql.services.uow import DriverWork, pending_files
from churns_gql.storage import METADATA_FILE, IndexEntry, RunStorage, reference_path


async def refinements_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Refinement]:
    """Refinements keyed by id."""
    return await rows_by_id(session, Refinement, ids)


async def list_run_refinements(
    session: AsyncSession, run_id: uuid.UUID, *, window: Window, type: RefinementType | None, status: JobStatus | None
) -> Page:
    """A run's refinements oldest first, keyset-paginated by (created_at, id), with filters.

    The total is read from the trigger-kept refinement_counts (per run, type and status).
    """
    base = select(Refinement).where(Refinement.run_id == run_id)
    total = select(func.coalesce(func.sum(RefinementCount.n), 0)).where(RefinementCount.run_id == run_id)
    if type is not None:
        base = base.where(Refinement.type == type)
        total = total.where(RefinementCount.type == type.value)
    if status is not None:
        base = base.where(Refinement.status == status)
        total = total.where(RefinementCount.status == status.value)
    return await keyset_page(session, base, Refinement, window, newest_first=False, total=total.scalar_subquery())


# -- summaries and refinements.json ---------------------------------------------------------------

_LABELS = {RefinementType.PROMPT: "Prompt", RefinementType.TEXT: "Text", RefinementType.SUBJECT: "Subject"}
_SUMMARY_TEXT = 60


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_TEXT else text[: _SUMMARY_TEXT - 1].rstrip() + "…"


def summarize(refinement: Refinement, notes: str = "") -> str:
    """A short display line, e.g. "Prompt: add sunset lighting (1 region)"."""
    what = refinement.prompt if refinement.type == RefinementType.PROMPT else refinement.instructions
    label = _LABELS[refinement.type]
    summary = f"{label}: {_short(what)}" if what else f"{label}: from the reference image"
    if refinement.type == RefinementType.SUBJECT and refinement.reference_image_path and what:
        summary += " (with reference)"
    if refinement.mask:
        count = len(refinement.mask)
        summary += f" ({count} region{'s' if count != 1 else ''})"
    # The offline provider names the words it could not act on; the user should see them.
    ignored = next((p.strip() for p in notes.split(";") if p.strip().startswith("ignored:")), None)
    return f"{summary}; {ignored}" if ignored else summary


@dataclass(frozen=True)
class ParentFile:
    """The image a refinement edits: its row id, its file (None until it has one) and its key in file names."""

    id: uuid.UUID
    path: str | None
    # An original's generation index, or the parent refinement's id (refinement_path names files by it).
    key: int | uuid.UUID


async def parent_file(session: AsyncSession, refinement: Refinement) -> ParentFile:
    """The original or refinement that `refinement` was made from."""
    if refinement.parent_image_id is not None:
        image = await session.get(Image, refinement.parent_image_id)
        assert image is not None
        return ParentFile(id=image.id, path=image.path, key=image.generation_index)
    parent = await session.get(Refinement, refinement.parent_refinement_id)
    assert parent is not None
    return ParentFile(id=parent.id, path=parent.image_path, key=parent.id)


def index_entry(
    refinement: Refinement, parent: ParentFile, *, image_path: str, summary: str | None, cost_usd: float | None
) -> IndexEntry:
    """The refinements.json entry of a completed refinement made from `parent`."""
    return IndexEntry(
        job_id=str(refinement.id),
        parent_image_id=str(parent.id),
        parent_image_path=parent.path or "",
        image_path=image_path,
        type=refinement.type.value.lower(),
        summary=summary,
        cost=float(cost_usd or 0.0),
        created_at=refinement.created_at.isoformat(),
    )


async def record_in_index(db: async_sessionmaker[AsyncSession], storage: RunStorage, refinement_id: uuid.UUID) -> None:
    """Add a COMPLETED refinement to its run's refinements.json (idempotent: keyed by job id).

    For a job found already COMPLETED (a retry) and for repairs; a job that completes now records the
    entry from what it loaded, without reading the rows again.
    """
    async with db() as session:
        refinement = await session.get(Refinement, refinement_id)
        if refinement is None or refinement.status != JobStatus.COMPLETED or not refinement.image_path:
            return
        parent = await parent_file(session, refinement)
        entry = index_entry(
            refinement,
            parent,
            image_path=refinement.image_path,
            summary=refinement.summary,
            cost_usd=refinement.cost_usd,
        )
    await run_index.record(db, storage, refinement.run_id, [entry])


# -- requesting a refinement ----------------------------------------------------------------------

MAX_RECTS = 16
# A thinner rectangle covers no whole pixel on small images and only makes the worker fail.
MIN_RECT_SIDE = 0.01


@dataclass
class RefineRequest:
    """What refineImage asks for, already decoded from GraphQL."""

    parent_type: str | None
    parent_id: uuid.UUID | None
    type: RefinementType
    prompt: str | None = None
    instructions: str | None = None
    mask: list[dict[str, float]] | None = None
    creativity_level: int | None = 2
    reference_upload: Any = None
    # Whose quota the job counts against, and whose runs the parent must be in (None: the shared open
    # bucket, and any run).
    owner_token_id: uuid.UUID | None = None


def _check_rects(rects: list[Rect] | None) -> list[Problem]:
    if rects is None:
        return []
    if len(rects) > MAX_RECTS:
        return [Problem(("input", "mask"), f"at most {MAX_RECTS} rectangles, not {len(rects)}", "INVALID")]
    problems = []
    for i, rect in enumerate(rects):
        for key in ("x", "y", "width", "height"):
            value = getattr(rect, key)
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                problems.append(
                    Problem(("input", "mask", str(i), key), f"rectangle {i}: {key} must be within 0..1", "INVALID")
                )
        if any(p.field and len(p.field) > 2 and p.field[2] == str(i) for p in problems):
            continue
        for key in ("width", "height"):
            if getattr(rect, key) < MIN_RECT_SIDE:
                problems.append(
                    Problem(
                        ("input", "mask", str(i), key),
                        f"rectangle {i}: {key} must be at least {MIN_RECT_SIDE} (1 % of the image)",
                        "INVALID",
                    )
                )
        if rect.x + rect.width > 1.0 + 1e-9:
            problems.append(
                Problem(("input", "mask", str(i), "width"), f"rectangle {i} runs past the right edge", "INVALID")
            )
        if rect.y + rect.height > 1.0 + 1e-9:
            problems.append(
                Problem(("input", "mask", str(i), "height"), f"rectangle {i} runs past the bottom edge", "INVALID")
            )
    return problems


def _check_request(req: RefineRequest, rects: list[Rect] | None) -> list[Problem]:
    problems: list[Problem] = []
    problems += check_text(
        req.prompt, "input", "prompt", required=req.type == RefinementType.PROMPT, label="prompt (what to change)"
    )
    problems += check_text(
        req.instructions,
        "input",
        "instructions",
        required=req.type == RefinementType.TEXT,
        label="instructions (what text to fix)",
    )
    if (
        req.type == RefinementType.SUBJECT
        and not (req.instructions and req.instructions.strip())
        and req.reference_upload is None
    ):
        problems.append(
            Problem(("input", "instructions"), "subject repair needs instructions or a reference image", "INVALID")
        )
    if req.reference_upload is not None and req.type != RefinementType.SUBJECT:
        problems.append(
            Problem(("input", "referenceImage"), "a reference image is only used by SUBJECT refinements", "INVALID")
        )
    if req.creativity_level is None or not 1 <= req.creativity_level <= 3:
        problems.append(Problem(("input", "creativityLevel"), "creativityLevel must be 1, 2 or 3", "INVALID"))
    problems += _check_rects(rects)
    return problems


def _check_provider(
    req: RefineRequest, rects: list[Rect], settings: Settings, concept_text: str | None
) -> list[Problem]:
    """What the offline engine cannot do in this request (nothing when OpenAI does the editing)."""
    if settings.provider_name == "openai":
        return []
    refusal = offline_supports(
        req.type, req.prompt, req.instructions, rects, req.reference_upload is not None, concept_text
    )
    if refusal is None:
        return []
    field = {RefinementType.PROMPT: "prompt", RefinementType.TEXT: "instructions"}.get(req.type, "referenceImage")
    return [Problem(("input", field), refusal, "UNSUPPORTED_BY_PROVIDER")]


async def _intended_text(
    storage: RunStorage, req: RefineRequest, run_id: uuid.UUID, generation_index: int
) -> str | None:
    """The run's intended text for the image, read only when a TEXT repair's instructions quote none."""
    if req.type != RefinementType.TEXT or quoted_text(req.instructions):
        return None
    metadata = await storage.read_json(run_id, METADATA_FILE)
    return concept_from_metadata(metadata if isinstance(metadata, dict) else None, generation_index).intended_text


def _needs_parent_first(req: RefineRequest) -> bool:
    """Whether a check or a write before the insert needs the parent: a reference image is stored in the parent's
    run folder, and a TEXT repair quoting no text is checked against the run's intended text."""
    return req.reference_upload is not None or (req.type == RefinementType.TEXT and not quoted_text(req.instructions))


async def _checked_parent(work: DriverWork, req: RefineRequest) -> Parent:
    """The parent, read ahead of the insert; refused when missing, someone else's or not ready."""
    parent = await admission.read_parent(await work.connection(), req.parent_type, req.parent_id, req.owner_token_id)
    if parent is None:
        raise UserInputError.one("NOT_FOUND", "no Image or Refinement with that parentId", "input", "parentId")
    if parent.status is not None and parent.status != JobStatus.COMPLETED:
        raise admission.not_ready(parent.status)
    return parent


async def create_refinement(
    work: DriverWork, storage: RunStorage, settings: Settings, req: RefineRequest
) -> admission.QueuedRefinement:
    """Validate, save the reference, and add a QUEUED refinement with its first event.

    Usually the parent is read by the statement that inserts the refinement (the locks go in BEGIN's
    message: three round trips with COMMIT). It is read ahead when a check or a write needs it, and when
    another problem was found, so that a missing parent is still the problem reported first.
    The reference file is removed if the caller's unit of work does not commit.
    Raises UserInputError, having written nothing, when the input is wrong.
    """
    # The request's mask becomes rectangles here, once; the row stores them back as mappings.
    rects = [Rect.from_dict(r) for r in req.mask] if req.mask is not None else None
    problems = _check_request(req, rects) + check_refine_request(req, settings)
    if problems:
        raise UserInputError(problems)
    if req.parent_id is None or req.parent_type not in ("Image", "Refinement"):
        raise UserInputError.one("NOT_FOUND", "no Image or Refinement with that parentId", "input", "parentId")
    parent = None
    concept_text = None
    if _needs_parent_first(req):
        parent = await _checked_parent(work, req)
        concept_text = await _intended_text(storage, req, parent.run_id, parent.generation_index)
    problems = _check_provider(req, rects or [], settings, concept_text)
    if problems:
        if parent is None:
            await _checked_parent(work, req)
        raise UserInputError(problems)
    decoded = await validate_reference(req.reference_upload, settings)
    reference_png = decoded.png if decoded is not None else None
    estimate = quotas.estimated_cost(settings, 1)
    plan = quotas.plan(settings, req.owner_token_id, queues_work=True, estimate_usd=estimate)
    if settings.max_storage_mb_per_token:
        await quotas.check_storage(await work.connection(), storage, settings, req.owner_token_id)

    is_original = req.parent_type == "Image"
    row = admission.QueuedRefinement(
        id=uuid.uuid4(),
        parent_image_id=req.parent_id if is_original else None,
        parent_refinement_id=None if is_original else req.parent_id,
        type=req.type,
        status=JobStatus.QUEUED,
        prompt=req.prompt,
        instructions=req.instructions,
        mask=[r.as_dict() for r in rects] if rects is not None else None,
        creativity_level=req.creativity_level,
        created_at=lifecycle.utcnow(),
        estimated_cost_usd=estimate,
    )
    if reference_png is not None:
        assert parent is not None  # read ahead: the file goes in its run's folder
        reference_rel = reference_path(row.id)
        pending_files(work).add(parent.run_id, reference_rel)
        await storage.write_bytes(parent.run_id, reference_rel, reference_png)
        row.reference_image_path = reference_rel
    # Locks, then parent, quotas, version, row and first event in one statement: the locks are held until commit.
    await admission.insert_queued(work, settings, row, req.parent_type, req.owner_token_id, plan)
    return row
