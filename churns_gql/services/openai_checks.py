"""refineImage's checks for the OpenAI provider: a SUBJECT needs a reference, and the prompt must fit the API."""

from __future__ import annotations

from typing import Any

from churns_gql.config import Settings
from churns_gql.prompt_budget import max_prompt_chars, user_text_budget
from churns_gql.refinement_types import RefinementType
from churns_gql.services.errors import Problem


def _length(text: str | None) -> int:
    """Characters of `text` once whitespace runs are collapsed, as the prompt quotes it."""
    return len(" ".join((text or "").split()))


def refine_problems(
    kind: RefinementType, prompt: str | None, instructions: str | None, has_reference: bool, limit: int
) -> list[Problem]:
    """Problems the OpenAI provider has with a refinement: SUBJECT without a reference, or text over the prompt limit."""
    problems: list[Problem] = []
    if kind == RefinementType.SUBJECT and not has_reference:
        problems.append(
            Problem(
                ("input", "referenceImage"),
                "the OpenAI provider needs a reference image for a SUBJECT refinement; upload one",
                "INVALID",
            )
        )
    budget = user_text_budget(limit)
    used = _length(prompt) + _length(instructions)
    if used > budget:
        field = "prompt" if _length(prompt) >= _length(instructions) else "instructions"
        problems.append(
            Problem(
                ("input", field),
                f"prompt and instructions are {used:,} characters together; with the image's concept "
                f"OpenAI takes at most {budget:,} (its prompt limit is {limit:,})",
                "INVALID",
            )
        )
    return problems


def check_refine_request(req: Any, settings: Settings) -> list[Problem]:
    """refineImage's OpenAI checks for a RefineRequest (nothing when another provider is active)."""
    if settings.provider_name != "openai":
        return []
    return refine_problems(
        RefinementType(req.type),
        req.prompt,
        req.instructions,
        req.reference_upload is not None,
        max_prompt_chars(settings.configs_dir),
    )
