"""save_outputs: write the result at the parent's exact size and prepare the COMPLETED transition."""

from __future__ import annotations

from PIL import Image

from churns_gql import image_lane
from churns_gql.images import encode_png
from churns_gql.pipeline.context import PipelineContext
from churns_gql.services import run_index
from churns_gql.services.refinements import index_entry, summarize
from churns_gql.storage import refinement_path


def _encode(image: Image.Image, size: tuple[int, int]) -> bytes:
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return encode_png(image)


async def run(ctx: PipelineContext) -> str:
    """Write refinements/{job}_from_{N|parent}.png; the executor commits the row and then the index."""
    refinement, result, base, parent = ctx.refinement, ctx.result, ctx.base_image, ctx.parent
    assert refinement is not None and result is not None and base is not None and parent is not None
    relative = refinement_path(ctx.job_id, parent.key)
    data = await image_lane.run(_encode, result.image, base.size)
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
    storage, completion = ctx.services.storage, ctx.completion
    # Built from the rows the job loaded when it started: the parent is not read again.
    entry = index_entry(
        refinement, parent, image_path=relative, summary=completion["summary"], cost_usd=completion["cost_usd"]
    )

    async def index() -> None:
        """Record the committed refinement in refinements.json."""
        await run_index.record(ctx.services.db, storage, refinement.run_id, [entry])

    ctx.after_commit.append(index)
    return f"saved {relative}"
