"""save_outputs: write the result at the parent's exact size and prepare the COMPLETED transition."""

from __future__ import annotations

import asyncio

from PIL import Image

from churns_gql.images import encode_png
from churns_gql.pipeline.context import PipelineContext
from churns_gql.services.refinements import record_in_index, summarize
from churns_gql.storage import refinement_path


def _encode(image: Image.Image, size: tuple[int, int]) -> bytes:
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return encode_png(image)


async def run(ctx: PipelineContext) -> str:
    """Write refinements/{job}_from_{N|parent}.png; the executor commits the row and then the index."""
    refinement, result, base = ctx.refinement, ctx.result, ctx.base_image
    assert refinement is not None and result is not None and base is not None
    relative = refinement_path(ctx.job_id, ctx.parent_key)
    data = await asyncio.to_thread(_encode, result.image, base.size)
    # Removed again if the job does not complete (cancelled in between), so no file is orphaned.
    ctx.cleanup_paths.append(relative)
    await ctx.services.storage.write_bytes(ctx.run.id, relative, data)
    ctx.completion = {
        "image_path": relative,
        "width": base.width,
        "height": base.height,
        "summary": summarize(refinement, result.notes),
        "cost_usd": ctx.spent_cost(),
    }
    storage, db, job_id = ctx.services.storage, ctx.services.db, ctx.job_id

    async def index() -> None:
        async with db() as session:
            await record_in_index(session, storage, job_id)

    ctx.after_commit.append(index)
    return f"saved {relative}"
