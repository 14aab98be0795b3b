"""load_base_image: the parent image, the optional reference and the run's concept for this image."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from churns_gql import image_lane
from churns_gql.concepts import concept_from_metadata
from churns_gql.pipeline.context import PipelineContext, StageFailed
from churns_gql.storage import METADATA_FILE, RunStorage


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


async def load_image(storage: RunStorage, run_id: uuid.UUID, relative: str) -> Image.Image:
    """A run image from storage (disk or bucket), decoded on the image lane; OSError when missing or unreadable."""
    return await image_lane.run(_open, await storage.read_bytes(run_id, relative))


async def run(ctx: PipelineContext) -> str:
    """Load what the edit needs into the context."""
    refinement, parent = ctx.refinement, ctx.parent
    assert refinement is not None and parent is not None
    storage = ctx.services.storage
    if not parent.path:
        raise StageFailed("load_base_image", "the parent image has no file; refine a completed image")
    try:
        ctx.base_image = await load_image(storage, ctx.run.id, parent.path)
    except (FileNotFoundError, OSError):
        raise StageFailed("load_base_image", f"the parent image file {parent.path} is missing or unreadable") from None
    message = f"loaded {parent.path} ({ctx.base_image.width}×{ctx.base_image.height})"
    if refinement.reference_image_path:
        try:
            ctx.reference = await load_image(storage, ctx.run.id, refinement.reference_image_path)
        except (FileNotFoundError, OSError):
            raise StageFailed("load_base_image", "the uploaded reference image is missing; upload it again") from None
        message += f" and the reference ({ctx.reference.width}×{ctx.reference.height})"
    metadata = await storage.read_json(ctx.run.id, METADATA_FILE)
    metadata = metadata if isinstance(metadata, dict) else {}
    ctx.concept = concept_from_metadata(metadata, refinement.generation_index)
    return message
