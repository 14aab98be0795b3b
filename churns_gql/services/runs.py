"""Runs and their original images: importing, listing and batched lookups."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from churns_gql.config import Settings
from churns_gql.db import Page, Window, keyset_page, rows_by_id, rows_grouped, scalar_on_driver
from churns_gql.images import DecodedImage, ImageRejected, PixelBudget, validate_upload
from churns_gql.models import Image, JobStatus, Refinement, Run, RunCount
from churns_gql.services import lifecycle, quotas
from churns_gql.services.errors import Problem, UserInputError
from churns_gql.services.tokens import OPEN, Caller
from churns_gql.services.uow import pending_files
from churns_gql.storage import METADATA_FILE, RunStorage, original_path

MAX_IMPORT_IMAGES = 16
MAX_TEXT = 4000
# A run's metadata is read back whole by queries: bounded so one run can never outgrow a request's budget.
MAX_METADATA_BYTES = 1024 * 1024


async def validate_reference(upload: Any, settings: Settings) -> DecodedImage | None:
    """A reference image upload checked like any import (None when there is none); problems are userErrors."""
    if upload is None:
        return None
    try:
        return await validate_upload(upload, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
    except ImageRejected as exc:
        raise UserInputError.one(exc.code, f"reference image: {exc.message}", "input", "referenceImage") from None


def check_text(value: str | None, *field: str, required: bool = False, label: str | None = None) -> list[Problem]:
    """Problems with a free-text input: missing when required, or over MAX_TEXT characters."""
    name = label or field[-1]
    if value is None or not value.strip():
        return [Problem(field, f"{name} is required", "INVALID")] if required else []
    if len(value) > MAX_TEXT:
        return [Problem(field, f"{name} is {len(value):,} characters; the limit is {MAX_TEXT:,}", "INVALID")]
    bad = unstorable_text(value)
    return [Problem(field, f"{name} {bad}", "INVALID")] if bad else []


def unstorable_text(value: str) -> str | None:
    """Why Postgres could not store `value` as text (a NUL byte, a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (invalid Unicode)"
    return None


def unstorable_json(value: Any) -> str | None:
    """Why a JSON value could not be stored as JSONB (a NUL or lone surrogate in any key or string), or None."""
    if isinstance(value, str):
        return unstorable_text(value)
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        bad = unstorable_json(item)
        if bad:
            return bad
    return None


async def import_run(
    session: AsyncSession,
    storage: RunStorage,
    settings: Settings,
    uploads: Sequence[Any],
    prompt: str | None,
    metadata: Any,
    owner_token_id: uuid.UUID | None = None,
) -> Run:
    """Validate every upload, write the run folder in one step and add a COMPLETED run with its images.

    Nothing is written when any input is wrong; the folder is removed if the caller's unit of work
    does not commit.
    """
    problems: list[Problem] = []
    if not 1 <= len(uploads) <= MAX_IMPORT_IMAGES:
        problems.append(
            Problem(("input", "images"), f"give 1 to {MAX_IMPORT_IMAGES} images, not {len(uploads)}", "INVALID")
        )
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(Problem(("input", "metadata"), "metadata must be a JSON object", "INVALID"))
    elif metadata is not None and (bad := unstorable_json(metadata)):
        problems.append(Problem(("input", "metadata"), f"metadata {bad}", "INVALID"))
    elif metadata is not None and len(_json_bytes(metadata)) > MAX_METADATA_BYTES:
        problems.append(Problem(("input", "metadata"), f"metadata is over {MAX_METADATA_BYTES:,} bytes", "TOO_LARGE"))
    problems += check_text(prompt, "input", "prompt")
    if problems:
        raise UserInputError(problems)

    decoded: list[tuple[bytes, int, int]] = []
    budget = PixelBudget(settings.max_pixels_per_request)
    for index, upload in enumerate(uploads):
        try:
            # Only the PNG is kept: holding every decoded image until the last one is read multiplied memory.
            image = await validate_upload(
                upload, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels, budget=budget
            )
            decoded.append((image.png, image.width, image.height))
            del image
        except ImageRejected as exc:
            problems.append(Problem(("input", "images", str(index)), f"image {index}: {exc.message}", exc.code))
    if problems:
        raise UserInputError(problems)
    await quotas.admit(session, storage, settings, owner_token_id, queues_work=False, estimate_usd=0.0)

    run_id = uuid.uuid4()
    files = {original_path(i): png for i, (png, _w, _h) in enumerate(decoded)}
    files[METADATA_FILE] = _json_bytes(metadata or {})
    pending_files(session).add_run_dir(run_id)
    await storage.create_run_dir(run_id, files)
    now = lifecycle.utcnow()
    run = Run(
        id=run_id,
        status=JobStatus.COMPLETED,
        prompt=prompt,
        inputs={"source": "import", "num_images": len(decoded)},
        created_at=now,
        started_at=now,
        completed_at=now,
        generation_cost_usd=0.0,
        owner_token_id=owner_token_id,
    )
    session.add(run)
    # No ORM relationships, so the unit of work cannot order the inserts: the run goes first.
    await session.flush()
    session.add_all(
        Image(run_id=run_id, generation_index=i, path=original_path(i), width=width, height=height)
        for i, (_png, width, height) in enumerate(decoded)
    )
    await session.flush()
    return run


# -- createRun ------------------------------------------------------------------------------------

MAX_GENERATED_IMAGES = 4
REFERENCE_FILE = "reference.png"
"""Where createRun keeps the uploaded reference image, inside the run folder."""

LANGUAGES = {
    "en": "English",
    "zh": "Chinese",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "ru": "Russian",
    "ar": "Arabic",
    "hi": "Hindi",
    "id": "Indonesian",
    "vi": "Vietnamese",
    "th": "Thai",
    "tr": "Turkish",
    "pl": "Polish",
}
"""Languages the promotional text can be written in, by ISO 639-1 code."""


@dataclass(frozen=True)
class Platform:
    """A target platform from configs/platforms.yml: the size its images are made at."""

    name: str
    aspect: str
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        """The platform as stored in a run's inputs."""
        return dict(self.__dict__)


@lru_cache(maxsize=4)
def load_platforms(path: Path) -> tuple[Platform, ...]:
    """The platforms in `path`, in file order (the first is the default)."""
    data = yaml.safe_load(path.read_text())
    entries = data.get("platforms") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path} must have a non-empty 'platforms' list")
    try:
        return tuple(
            Platform(name=str(e["name"]), aspect=str(e["aspect"]), width=int(e["width"]), height=int(e["height"]))
            for e in entries
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: every platform needs name, aspect, width and height ({exc})") from None


@dataclass
class CreateRunRequest:
    """What createRun asks for, already decoded from GraphQL; None means the default."""

    prompt: str | None
    platform: str | None = None
    num_images: int | None = None
    language: str | None = None
    reference_upload: Any = None
    owner_token_id: uuid.UUID | None = None


def _check_create(req: CreateRunRequest, platforms: Sequence[Platform]) -> list[Problem]:
    """Problems with createRun's plain fields (the reference is checked after them)."""
    problems = check_text(req.prompt, "input", "prompt", required=True)
    if req.platform is not None and req.platform not in {p.name for p in platforms}:
        names = ", ".join(p.name for p in platforms)
        problems.append(
            Problem(("input", "platform"), f"unknown platform {req.platform[:80]!r}; use one of {names}", "INVALID")
        )
    if req.num_images is not None and not 1 <= req.num_images <= MAX_GENERATED_IMAGES:
        problems.append(
            Problem(
                ("input", "numImages"),
                f"numImages must be 1 to {MAX_GENERATED_IMAGES}, not {req.num_images}",
                "INVALID",
            )
        )
    if req.language is not None and req.language.strip().lower() not in LANGUAGES:
        problems.append(
            Problem(
                ("input", "language"),
                f"unknown language {req.language[:20]!r}; use a code such as {', '.join(LANGUAGES)}",
                "INVALID",
            )
        )
    return problems


async def create_run(session: AsyncSession, storage: RunStorage, settings: Settings, req: CreateRunRequest) -> Run:
    """Validate, save the reference, and add a QUEUED run with its first event.

    Nothing is written when any input is wrong; the folder is removed if the caller's unit of work
    does not commit.
    """
    platforms = load_platforms(settings.configs_dir / "platforms.yml")
    problems = _check_create(req, platforms)
    if problems:
        raise UserInputError(problems)
    reference = await validate_reference(req.reference_upload, settings)
    estimate = quotas.estimated_cost(settings, req.num_images or 1, generation=True)
    await quotas.admit(session, storage, settings, req.owner_token_id, queues_work=True, estimate_usd=estimate)

    platform = next((p for p in platforms if p.name == req.platform), platforms[0])
    language = (req.language or "en").strip().lower()
    run_id = uuid.uuid4()
    inputs = {
        "source": "generation",
        "prompt": req.prompt,
        "platform": platform.as_dict(),
        "num_images": req.num_images or 1,
        "language": language,
        "language_name": LANGUAGES[language],
        "reference_image": REFERENCE_FILE if reference is not None else None,
    }
    if reference is not None:
        pending_files(session).add_run_dir(run_id)
        await storage.create_run_dir(run_id, {REFERENCE_FILE: reference.png})
    run = Run(
        id=run_id,
        status=JobStatus.QUEUED,
        prompt=req.prompt,
        platform=platform.name,
        inputs=inputs,
        created_at=lifecycle.utcnow(),
        generation_cost_usd=0.0,
        owner_token_id=req.owner_token_id,
        estimated_cost_usd=estimate,
    )
    session.add(run)
    await session.flush()
    await lifecycle.publish_queued(session, run)
    return run


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode()


# -- batched lookups (DataLoader batch functions call these) ------------------------------------


async def runs_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Run]:
    """Runs keyed by id."""
    return await rows_by_id(session, Run, ids)


async def run_by_id(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    """One run, or None."""
    return await session.get(Run, run_id)


async def run_owner(session: AsyncSession, run_id: uuid.UUID) -> uuid.UUID | None:
    """The id of the token that owns a run (None when the run is missing or was made without a token)."""
    return await session.scalar(select(Run.owner_token_id).where(Run.id == run_id))


async def add_originals(session: AsyncSession, run_id: uuid.UUID, originals: Sequence[dict[str, Any]]) -> None:
    """Insert a generated run's Image rows (generation_index, path, width, height); one already there is kept."""
    rows = [{"id": uuid.uuid4(), "run_id": run_id, **original} for original in originals]
    await session.execute(
        insert(Image).values(rows).on_conflict_do_nothing(index_elements=[Image.run_id, Image.generation_index])
    )


async def images_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Image]:
    """Original images keyed by id."""
    return await rows_by_id(session, Image, ids)


async def images_by_run_ids(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Image]]:
    """Each run's originals by generation index."""
    query = select(Image).where(Image.run_id.in_(run_ids)).order_by(Image.run_id, Image.generation_index)
    return await rows_grouped(session, query, "run_id", run_ids)


async def refinement_costs_by_run_ids(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, float]:
    """Sum of refinement costs per run."""
    rows = await session.execute(
        select(Refinement.run_id, func.coalesce(func.sum(Refinement.cost_usd), 0.0))
        .where(Refinement.run_id.in_(run_ids))
        .group_by(Refinement.run_id)
    )
    costs = {run_id: 0.0 for run_id in run_ids}
    costs.update({run_id: float(total or 0.0) for run_id, total in rows})
    return costs


async def list_runs(
    session: AsyncSession, *, window: Window, status: JobStatus | None, caller: Caller = OPEN, with_rows: bool = True
) -> Page:
    """Runs the caller may see, newest first, keyset-paginated by (created_at, id); only counted without rows.

    The total is read from the trigger-kept run_counts (a sum over a few rows per owner and status), not
    counted over the runs.
    """
    base = select(Run)
    total = select(func.coalesce(func.sum(RunCount.n), 0))
    if not caller.is_open:
        base = base.where(Run.owner_token_id == caller.token_id)
        total = total.where(RunCount.owner_token_id == caller.token_id)
    if status is not None:
        base = base.where(Run.status == status)
        total = total.where(RunCount.status == status.value)
    return await keyset_page(
        session, base, Run, window, newest_first=True, with_rows=with_rows, total=total.scalar_subquery()
    )


@lru_cache(maxsize=4)
def _total_statement(owned: bool, by_status: bool) -> Select[Any]:
    """The run_counts sum for one shape of filters, built once (the values are bound parameters)."""
    query = select(func.coalesce(func.sum(RunCount.n), 0))
    if owned:
        query = query.where(RunCount.owner_token_id == bindparam("owner"))
    if by_status:
        query = query.where(RunCount.status == bindparam("status"))
    return query


async def count_runs(engine: AsyncEngine, *, status: JobStatus | None, caller: Caller = OPEN) -> int:
    """How many runs the caller may see (in `status`): one prebuilt statement on a pooled driver connection.

    No ORM session and no SQLAlchemy Connection: this is the whole of a count-only request (bench P4+).
    """
    params: dict[str, Any] = {}
    if not caller.is_open:
        params["owner"] = caller.token_id
    if status is not None:
        params["status"] = status.value
    statement = _total_statement("owner" in params, "status" in params)
    return int(await scalar_on_driver(engine, statement, params) or 0)
