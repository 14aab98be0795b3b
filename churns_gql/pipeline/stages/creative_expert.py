"""creative_expert: a structured visual concept per image, from its strategy and style direction."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext, concurrently
from churns_gql.providers.generation import structured_request
from churns_gql.providers.generation_answers import VisualConcept


async def run(ctx: PipelineContext) -> str:
    """Ask the text model for every image's concept at once."""
    state = ctx.generation
    assert state is not None
    brief = state.brief()
    requests = [
        structured_request(
            VisualConcept,
            {
                "brief": brief,
                "index": i,
                "strategy": strategy,
                "style": state.style_guidance[i],
                "reference_analysis": state.image_analysis,
            },
        )
        for i, strategy in enumerate(state.strategies)
    ]
    concepts = await concurrently(ctx.ask(r) for r in requests)
    state.concepts = [concept.model_dump() for concept in concepts]
    texts = [c.promotional_text_visuals.text for c in concepts]
    return f"{len(state.concepts)} concepts; text: " + ", ".join(f'"{t}"' if t else "none" for t in texts)
