"""text_repair: re-render the intended lettering."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext
from churns_gql.pipeline.stages._edit import edit
from churns_gql.refinement_types import RefinementType


async def run(ctx: PipelineContext) -> str:
    """Run the TEXT edit through the configured provider."""
    return await edit(ctx, RefinementType.TEXT)
