"""The shared body of the three edit stages: one provider call, with previews and cancellation checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from PIL import Image

from churns_gql import image_lane
from churns_gql.images import encode_png
from churns_gql.models import StageStatus
from churns_gql.pipeline.context import JobCancelled, PipelineContext
from churns_gql.providers.base import EditRequest, EditResult, ProviderError, RefinementType
from churns_gql.storage import preview_path

UNWIND_S = 10.0
"""How long an aborted provider call may take to unwind (finish a file it is writing) before the job cleans up."""


async def paid_call(ctx: PipelineContext, call: Awaitable[EditResult]) -> EditResult:
    """Await a provider call and record what it cost, even when it fails or the job is aborted meanwhile.

    An editor that bills (billing_grace_s > 0) is paid for a sent request whether or not we wait, so
    on an abort the call may finish for up to that long to report its usage; the offline one is
    simply stopped.
    """
    task = asyncio.ensure_future(call)
    try:
        result = await asyncio.shield(task)
    except ProviderError as exc:
        ctx.record_spend(exc.spent_usd)
        raise
    except asyncio.CancelledError:
        grace = float(getattr(ctx.services.editor, "billing_grace_s", 0.0))
        try:
            if grace > 0:
                await asyncio.wait({task}, timeout=grace)
        finally:
            _record_late(ctx, task, billed=grace > 0)
            # The stopped call may be writing a preview: let it unwind first, or the job's cleanup would run before
            # the file lands and leave it behind.
            if not task.done():
                await asyncio.wait({task}, timeout=UNWIND_S)
        raise
    ctx.record_spend(result.cost_usd)
    return result


def _record_late(ctx: PipelineContext, task: asyncio.Future[EditResult], *, billed: bool) -> None:
    """Record the spend of a call the job stopped waiting for; stop it if it still runs."""
    if not task.done():
        task.cancel()
        if billed:
            ctx.record_spend(None)
        return
    error = task.exception() if not task.cancelled() else None
    if task.cancelled():
        ctx.record_spend(None if billed else 0.0)
    elif isinstance(error, ProviderError):
        ctx.record_spend(error.spent_usd)
    elif error is not None:
        ctx.record_spend(None if billed else 0.0)
    else:
        ctx.record_spend(task.result().cost_usd)


async def edit(ctx: PipelineContext, kind: RefinementType) -> str:
    """Ask the provider for the edit and keep its result in the context."""
    refinement = ctx.refinement
    assert refinement is not None and ctx.base_image is not None

    cancelled = False

    async def on_partial(image: Image.Image, index: int) -> None:
        """Save a streamed partial as the job's preview and announce it."""
        nonlocal cancelled
        if cancelled:
            return
        relative = preview_path(ctx.job_id, index)
        # Until an event points at the preview it is the job's to clean up if the job stops here.
        ctx.cleanup_paths.append(relative)
        await ctx.services.storage.write_bytes(ctx.run.id, relative, await image_lane.run(encode_png, image, level=1))
        try:
            await ctx.publish(StageStatus.RUNNING, f"partial image {index + 1}", preview_path=relative)
        except JobCancelled:
            # The call is paid for whatever we do now: read it to the end for its usage (the spend);
            # the check after the call then stops the job.
            cancelled = True
            return
        ctx.cleanup_paths.remove(relative)

    request = EditRequest(
        kind=kind,
        image=ctx.base_image,
        prompt=refinement.prompt,
        instructions=refinement.instructions,
        rects=refinement.rects,
        creativity=refinement.creativity_level,
        reference=ctx.reference,
        concept=ctx.concept,
        on_partial=on_partial,
    )
    # No separate cancellation reads around the call: the stage's RUNNING event, written just before this, only
    # commits while the job runs, and the event that follows the call (the stage's COMPLETED) checks the same way,
    # so a cancel that comes in meanwhile stops the job there, before any result is kept.
    result = await paid_call(ctx, ctx.services.editor.edit(request))
    ctx.result = result
    ctx.stage_cost = result.cost_usd
    return f"{ctx.services.editor.name}: {result.notes}" if result.notes else ctx.services.editor.name
