"""style_guide: one visual style direction per marketing strategy."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext
from churns_gql.providers.generation import first_n, structured_request
from churns_gql.providers.generation_answers import StyleGuidance


async def run(ctx: PipelineContext) -> str:
    """Ask the text model for a style direction for each strategy, in order."""
    state = ctx.generation
    assert state is not None
    request = structured_request(StyleGuidance, {"brief": state.brief(), "strategies": state.strategies})
    answer = await ctx.ask(request)
    guidance = first_n(answer.style_guidance, len(state.strategies), request, state.provider.name, "style directions")
    state.style_guidance = [{**g.model_dump(), "source_strategy_index": i} for i, g in enumerate(guidance)]
    return "; ".join(", ".join(g["style_keywords"][:3]) for g in state.style_guidance)
