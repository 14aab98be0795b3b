"""prompt_assembly: the final image prompt of each concept; an edit prompt when there is a reference."""

from __future__ import annotations

from typing import Any

from churns_gql.pipeline.context import PipelineContext


def assemble(concept: dict[str, Any], platform: dict[str, Any], edit: bool) -> str:
    """The prompt the image model receives for one visual concept."""
    text = concept["promotional_text_visuals"]
    if edit:
        opening = (
            "Using the provided image as the main subject, keep that subject exactly as it is (shape, "
            "colours, labels and details) and build this marketing image around it."
        )
    else:
        opening = f"Create a marketing image for {platform['name']} ({platform['aspect']} aspect ratio)."
    lines = [
        opening,
        f"Main subject: {concept['main_subject']}.",
        f"Composition: {concept['composition']}.",
        f"Background: {concept['background']}.",
        f"Lighting and mood: {concept['lighting_and_mood']}.",
        f"Visual style: {concept['visual_style']}.",
        f"Colour palette: {', '.join(concept['color_palette'])}.",
    ]
    if text["text"].strip():
        lines.append(
            f'Render the text "{text["text"].strip()}" exactly as written, spelled correctly: '
            f"{text['style']}, placed at the {text['placement']}."
        )
    else:
        lines.append("Do not put any text in the image.")
    if concept["negative_elements"]:
        lines.append(f"Avoid: {', '.join(concept['negative_elements'])}.")
    return "\n".join(lines)


async def run(ctx: PipelineContext) -> str:
    """Assemble every image's prompt from its concept (no provider call)."""
    state = ctx.generation
    assert state is not None
    edit = state.reference is not None
    platform = state.inputs["platform"]
    state.final_prompts = [
        {"index": i, "mode": "edit" if edit else "generate", "prompt": assemble(concept, platform, edit)}
        for i, concept in enumerate(state.concepts)
    ]
    kind = "edit prompts on the reference" if edit else "generation prompts"
    return f"{len(state.final_prompts)} {kind}"
