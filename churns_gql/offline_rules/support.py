"""Whether the offline engine can do what a refinement asks, decided before anything is stored or queued."""

from __future__ import annotations

from collections.abc import Sequence

from churns_gql.geometry import Rect
from churns_gql.offline_rules.intents import parse_prompt
from churns_gql.offline_rules.text_rules import text_subject_refusal
from churns_gql.refinement_types import RefinementType

PROMPT_CAPABILITIES = (
    "The offline editor understands: tone and colour (warmer, cooler, brighter, darker, more or less contrast, "
    "more or less saturation, sharpen, blur, denoise, vignette, black and white, sepia, tints such as "
    '"more blue" or "less red"; amounts such as "20% brighter"), removal of what is inside a selected '
    'rectangle ("remove the logo"), and background changes ("blur the background", "replace the background '
    'with white" or "with a blue to white gradient"). It cannot add or draw new things.'
)


def prompt_text(prompt: str | None, instructions: str | None) -> str | None:
    """The free text a PROMPT refinement is read from: its prompt, else its instructions."""
    return prompt if prompt and prompt.strip() else instructions


def _prompt_support(text: str | None, rects: Sequence[Rect]) -> str | None:
    """Why a PROMPT cannot be done offline, or None when it can."""
    plan = parse_prompt(text)
    if plan.empty:
        return f"Nothing in this prompt is something the offline editor can do. {PROMPT_CAPABILITIES}"
    if plan.removal is not None and not rects:
        what = f"the {plan.removal}" if plan.removal else "something"
        return (
            f"To remove {what} offline, select it with a rectangle (mask): the offline editor paints over "
            "what is inside the selection and does not search the image for it."
        )
    return None


def offline_supports(
    kind: RefinementType,
    prompt: str | None,
    instructions: str | None,
    rects: Sequence[Rect],
    has_reference: bool,
    concept_text: str | None = None,
) -> str | None:
    """None when the offline engine can do the refinement, else the message saying why not.

    Pure: it looks only at what the request says (and the run's intended text), so refineImage can refuse
    before storing anything.
    """
    if kind == RefinementType.PROMPT:
        return _prompt_support(prompt_text(prompt, instructions), rects)
    return text_subject_refusal(kind, instructions, has_reference, concept_text)
