"""strategy: one audience / niche / objective / voice combination per image."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext
from churns_gql.providers.generation import first_n, structured_request
from churns_gql.providers.generation_answers import Strategies


async def run(ctx: PipelineContext) -> str:
    """Ask the text model for N distinct marketing strategies."""
    state = ctx.generation
    assert state is not None
    request = structured_request(
        Strategies,
        {"brief": state.brief(), "num_strategies": state.num_images, "reference_analysis": state.image_analysis},
    )
    answer = await ctx.ask(request)
    chosen = first_n(answer.strategies, state.num_images, request, state.provider.name, "strategies")
    state.strategies = [strategy.model_dump() for strategy in chosen]
    return "; ".join(
        f"{s['target_voice']} voice for {s['target_audience']} ({s['target_objective']})" for s in state.strategies
    )
