"""image_eval: describe the reference image, if the run has one (main subject, setting, style, text in it)."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext, StageFailed
from churns_gql.pipeline.stages.load_base_image import load_image
from churns_gql.providers.generation import IMAGE_EVAL, structured_request
from churns_gql.providers.generation_answers import ImageAnalysis


async def run(ctx: PipelineContext) -> str:
    """Load the reference and ask the text model to describe it; skipped without a reference."""
    state = ctx.generation
    assert state is not None
    relative = state.inputs.get("reference_image")
    if not relative:
        return "skipped: no reference image"
    try:
        state.reference = await load_image(ctx.services.storage, ctx.run.id, relative)
    except (FileNotFoundError, OSError):
        raise StageFailed(IMAGE_EVAL, "the reference image of this run is missing; create the run again") from None
    analysis = await ctx.ask(structured_request(ImageAnalysis, {"brief": state.brief()}, [state.reference]))
    state.image_analysis = analysis.model_dump()
    return f"reference ({state.reference.width}×{state.reference.height}): {analysis.main_subject}"
