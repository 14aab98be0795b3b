"""image_generation: every original at once, at the platform's size, as originals/image_{N}.png.

The Image rows are added by the COMPLETED transition itself, so a run has its originals exactly when
it has completed, and a job delivered twice cannot add them twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps

from churns_gql.images import encode_png
from churns_gql.models import StageStatus
from churns_gql.pipeline.context import PipelineContext, concurrently
from churns_gql.providers.base import ImageRequest
from churns_gql.services.runs import add_originals
from churns_gql.storage import original_path

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def _exact(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` as RGB at exactly `size`, crop-scaled if a provider returned another size."""
    image = image.convert("RGB")
    return image if image.size == size else ImageOps.fit(image, size, Image.Resampling.LANCZOS)


async def run(ctx: PipelineContext) -> str:
    """Generate, write and register the run's originals."""
    state = ctx.generation
    assert state is not None
    width, height = state.size
    storage, run_id, total = ctx.services.storage, ctx.run.id, len(state.final_prompts)
    done = 0
    # Images finish in any order; counting and announcing under one lock keeps "(1 of n)" before "(2 of n)".
    announcing = asyncio.Lock()

    async def one(index: int) -> dict[str, Any]:
        """Generate, fit, write and announce image `index`."""
        nonlocal done
        request = ImageRequest(
            prompt=state.final_prompts[index]["prompt"],
            width=width,
            height=height,
            concept=state.concepts[index],
            reference=state.reference,
        )
        result = await state.provider.generate(request)
        ctx.add_cost(result.cost_usd)
        image = await asyncio.to_thread(_exact, result.image, (width, height))
        relative = original_path(index)
        # Removed again if the run does not complete, so no file is orphaned.
        ctx.cleanup_paths.append(relative)
        await storage.write_bytes(run_id, relative, await asyncio.to_thread(encode_png, image))
        async with announcing:
            done += 1
            await ctx.publish(StageStatus.RUNNING, f"image {index + 1} ready ({done} of {total})")
        return {
            "image": image,
            "index": index,
            "path": relative,
            "width": width,
            "height": height,
            "cost_usd": None if result.cost_usd is None else round(result.cost_usd, 6),
            "notes": result.notes,
        }

    await ctx.check_cancelled()
    results = await concurrently(one(i) for i in range(total))
    await ctx.check_cancelled()
    state.pictures = [r.pop("image") for r in results]
    state.image_results = results

    async def add_rows(session: AsyncSession) -> None:
        """Insert the run's Image rows (none twice) in the COMPLETED transaction."""
        await add_originals(
            session,
            run_id,
            [{"generation_index": r["index"], "path": r["path"], "width": width, "height": height} for r in results],
        )

    ctx.completion_writes.append(add_rows)
    return f"{total} image{'s' if total != 1 else ''} at {width}×{height}"
