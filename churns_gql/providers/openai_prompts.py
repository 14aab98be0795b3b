"""Edit prompts for GPT Image: the user's words, the run's concept and the creativity wording; and their limits.

Creativity 1..3 maps onto the call like this (input_fidelity only where the model takes it):

    creativity    input_fidelity  quality  prompt wording
    1 precise     high            high     "Change only what is asked and preserve everything else exactly"
    2 balanced    high            medium   "Make the requested change; keep composition, subject, style, text"
    3 creative    low             high     "Feel free to reinterpret the image to fulfil the request"

Every prompt carries what the run meant the image to show (main subject, visual style, intended
text from pipeline_metadata.json), each cut to CONCEPT_CHARS, so the prompt stays within the API's
limit whenever the user's own text fits prompt_budget.user_text_budget (refineImage checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

from churns_gql.concepts import Concept
from churns_gql.prompt_budget import CONCEPT_CHARS
from churns_gql.providers.base import EditRequest, RefinementType


@dataclass(frozen=True)
class CreativityStyle:
    """How one creativity level is expressed in the API call."""

    input_fidelity: str
    quality: str
    wording: str
    text_wording: str


CREATIVITY: dict[int, CreativityStyle] = {
    1: CreativityStyle(
        input_fidelity="high",
        quality="high",
        wording=(
            "Change only what is asked and preserve everything else exactly: composition, framing, "
            "colours, lighting, people, products, text and logos stay identical wherever the request "
            "does not require a change."
        ),
        text_wording="Match the existing font, size, colour, weight and placement of the text exactly.",
    ),
    2: CreativityStyle(
        input_fidelity="high",
        quality="medium",
        wording=(
            "Make the requested change while keeping the composition, main subject, style and any "
            "text recognisably the same; small supporting adjustments are fine where they make the "
            "change look natural."
        ),
        text_wording="Keep the lettering close to the existing typography and placement.",
    ),
    3: CreativityStyle(
        input_fidelity="low",
        quality="high",
        wording=(
            "Feel free to reinterpret the image to fulfil the request: composition, styling and "
            "details may change, as long as the image keeps its purpose and main subject."
        ),
        text_wording="Feel free to restyle the lettering so it suits the image, keeping it legible.",
    ),
}


def creativity_style(creativity: int) -> CreativityStyle:
    """The style for `creativity`, clamped into 1..3."""
    return CREATIVITY[max(1, min(3, int(creativity)))]


def clean(text: str | None) -> str:
    """`text` with runs of whitespace collapsed and ends stripped."""
    return " ".join((text or "").split())


def _cut(text: str | None) -> str:
    """A concept field, cleaned and cut to CONCEPT_CHARS."""
    text = clean(text)
    return text if len(text) <= CONCEPT_CHARS else text[: CONCEPT_CHARS - 1].rstrip() + "…"


def user_text(request: EditRequest) -> str:
    """What the user asked for: the prompt and instructions, each once."""
    parts: list[str] = []
    for text in (request.prompt, request.instructions):
        cleaned = clean(text)
        if cleaned and cleaned not in parts:
            parts.append(cleaned)
    return " ".join(parts)


def concept_lines(concept: Concept, kind: RefinementType) -> list[str]:
    """What the run meant the image to show, as prompt lines (none when the metadata says nothing)."""
    subject, style, text = _cut(concept.main_subject), _cut(concept.visual_style), _cut(concept.intended_text)
    lines = []
    if subject:
        lines.append(
            f"The image's main subject is: {subject}."
            if kind != RefinementType.SUBJECT
            else f"The current main subject is: {subject}."
        )
    if style:
        lines.append(f"Keep the image's visual style: {style}.")
    if text:
        lines.append(
            f'The text in the image should read exactly: "{text}". Spell it exactly like that.'
            if kind == RefinementType.TEXT
            else f'Any text in the image should read: "{text}"; keep it legible and unchanged.'
        )
    return lines


def build_prompt(request: EditRequest) -> str:
    """The edit prompt for `request`: the user's words, the run's concept, and the creativity wording."""
    style = creativity_style(request.creativity)
    asked = user_text(request)
    concept = concept_lines(request.concept, request.kind)
    lines: list[str] = []
    if request.kind == RefinementType.PROMPT:
        lines.append(f"Edit this image: {asked}")
        lines += concept
        if request.rects:
            regions = "region" if len(request.rects) == 1 else f"{len(request.rects)} regions"
            lines.append(
                f"Apply the change only inside the masked {regions} (the transparent area of the mask); "
                "leave everything outside it unchanged."
            )
        lines.append(style.wording)
    elif request.kind == RefinementType.SUBJECT:
        lines.append(
            "Replace the main subject of the first image with the subject shown in the second image (the reference)."
        )
        lines += concept
        if asked:
            lines.append(f"Instructions: {asked}")
        lines.append(
            "Match the scene's lighting, perspective, scale and colour grading so the new subject "
            "looks like it was photographed there; keep the reference subject's identity and details."
        )
        lines.append(style.wording)
    else:
        lines.append("Correct the text in this image.")
        if asked:
            lines.append(f"Instructions: {asked}")
        lines += concept
        lines.append("Render the text crisp and legible. " + style.text_wording)
        lines.append("Keep everything else in the image identical: only the text may change.")
    return "\n".join(lines)
