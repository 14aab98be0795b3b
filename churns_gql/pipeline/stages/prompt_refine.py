"""prompt_refine: change the image (or the masked regions) as the prompt says."""

from __future__ import annotations

from churns_gql.pipeline.context import PipelineContext
from churns_gql.pipeline.stages._edit import edit
from churns_gql.refinement_types import RefinementType


async def run(ctx: PipelineContext) -> str:
    """Run the PROMPT edit through the configured provider."""
    return await edit(ctx, RefinementType.PROMPT)
