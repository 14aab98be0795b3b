"""image_assessment: score every original against its concept, then write pipeline_metadata.json.

As the generation's last stage it also prepares the COMPLETED transition: the metadata file (removed
again if the run does not complete) and the run's total cost.
"""

from __future__ import annotations

from typing import Any

from churns_gql.pipeline.context import PipelineContext, concurrently
from churns_gql.providers.generation import needs_repair, structured_request
from churns_gql.providers.generation_answers import Assessment
from churns_gql.storage import METADATA_FILE


async def run(ctx: PipelineContext) -> str:
    """Assess each image, flag the ones worth repairing, and write the run's metadata."""
    state = ctx.generation
    assert state is not None
    brief = state.brief()
    extra = [state.reference] if state.reference is not None else []
    requests = [
        structured_request(
            Assessment,
            {
                "brief": brief,
                "index": i,
                "visual_concept": state.concepts[i],
                "final_prompt": state.final_prompts[i]["prompt"],
                "has_reference": state.reference is not None,
            },
            [picture, *extra],
        )
        for i, picture in enumerate(state.pictures)
    ]
    answers = await concurrently(ctx.ask(r) for r in requests)
    assessment: list[dict[str, Any]] = []
    for i, answered in enumerate(answers):
        answer = answered.model_dump()
        # Scores for what an image cannot have are dropped rather than trusted.
        if state.reference is None:
            answer["subject_preservation"] = None
        if not state.concepts[i]["promotional_text_visuals"]["text"].strip():
            answer["text_rendering"] = None
        assessment.append(
            {
                "index": i,
                **answer,
                "needs_subject_repair": needs_repair(answer["subject_preservation"]),
                "needs_text_repair": needs_repair(answer["text_rendering"]),
            }
        )
    state.assessment = assessment

    ctx.cleanup_paths.append(METADATA_FILE)
    await ctx.services.storage.write_json(ctx.run.id, METADATA_FILE, state.metadata(ctx.run.id))
    ctx.completion = {"generation_cost_usd": state.total_cost}
    flagged = [
        f"image {a['index'] + 1}: {' and '.join(k for k in ('subject', 'text') if a[f'needs_{k}_repair'])}"
        for a in assessment
        if a["needs_subject_repair"] or a["needs_text_repair"]
    ]
    scores = ", ".join(f"{a['concept_adherence']}/{a['technical_quality']}" for a in assessment)
    return f"adherence/quality {scores}; " + (
        f"repair suggested for {'; '.join(flagged)}" if flagged else "no repair needed"
    )
