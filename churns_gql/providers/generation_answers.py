"""The answers of the generation's text stages as pydantic models: their JSON schemas and their validation.

The OpenAI provider sends `answer_schema(model)` (the SDK's strict structured-output schema of the
model) as the response format; the offline provider builds instances directly. Either way an answer
is an instance, so a malformed one fails its stage with a message naming the first misfit
(`misfits`) instead of breaking a later stage.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Hex = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="A colour as #RRGGBB.")]
Score = Annotated[int, Field(ge=1, le=5)]


class Answer(BaseModel):
    """A stage's structured answer: closed (no other keys) and strictly typed (nothing coerced), as the schema says."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    stage: ClassVar[str]
    """The generation stage that asks for this answer."""
    schema_name: ClassVar[str]
    """The name of its json_schema response format."""


class ImageAnalysis(Answer):
    """image_eval: what the reference image shows."""

    stage = "image_eval"
    schema_name = "image_analysis"

    main_subject: str = Field(description="The main subject of the image, concretely (what it is, colour, material).")
    setting: str = Field(description="Where the subject is: background, surface, surroundings.")
    style: str = Field(description="Photographic or illustrative style, lighting and mood.")
    text_in_image: str = Field(description="Any lettering visible in the image, verbatim; empty when there is none.")
    dominant_colors: list[Hex] = Field(description="The 3 to 5 most prominent colours.")


class Strategy(Answer):
    """One audience / niche / objective / voice combination."""

    target_audience: str = Field(description="Who the image speaks to.")
    target_niche: str = Field(description="The market niche or category.")
    target_objective: str = Field(description="What the image should achieve, e.g. drive sales or build awareness.")
    target_voice: str = Field(description="The brand voice, e.g. playful, premium, friendly.")


class Strategies(Answer):
    """strategy: the marketing strategies, one per image."""

    stage = "strategy"
    schema_name = "marketing_strategies"

    strategies: list[Strategy] = Field(
        description="Distinct audience/objective/voice combinations, as many as requested."
    )


class StyleDirection(Answer):
    """One visual style direction for one strategy."""

    style_keywords: list[str] = Field(description="3 to 6 keywords naming the style.")
    style_description: str = Field(description="The style direction in one or two sentences.")
    marketing_impact: str = Field(description="Why this style serves its strategy.")


class StyleGuidance(Answer):
    """style_guide: one style direction per strategy."""

    stage = "style_guide"
    schema_name = "style_guidance"

    style_guidance: list[StyleDirection] = Field(
        description="One style direction per strategy, in the strategies' order."
    )


class PromotionalText(Answer):
    """The text a visual concept puts in the image, and how."""

    text: str = Field(description="The exact promotional text to render, in the requested language; empty for none.")
    style: str = Field(description="Typography: font character, weight, colour.")
    placement: Literal["top", "center", "bottom"] = Field(description="Where the text sits.")


class VisualConcept(Answer):
    """creative_expert: the visual concept of one image."""

    stage = "creative_expert"
    schema_name = "visual_concept"

    main_subject: str = Field(description="The subject, described so an image model renders it faithfully.")
    composition: str = Field(description="Framing, camera angle and where things sit, for the platform's aspect ratio.")
    background: str = Field(description="The background and environment.")
    lighting_and_mood: str = Field(description="Lighting and the mood it creates.")
    color_palette: list[Hex] = Field(description="4 or 5 colours, the background's first.")
    visual_style: str = Field(description="The visual style, e.g. clean studio product photography.")
    promotional_text_visuals: PromotionalText
    negative_elements: list[str] = Field(description="Things the image must not show.")


class Assessment(Answer):
    """image_assessment: scores of one image against its concept."""

    stage = "image_assessment"
    schema_name = "image_assessment"

    concept_adherence: Score = Field(description="How well the image follows its visual concept, 1..5.")
    technical_quality: Score = Field(description="Sharpness, artefacts, composition, 1..5.")
    subject_preservation: Score | None = Field(
        description="How faithfully the reference subject is kept, 1..5; null without a reference."
    )
    text_rendering: Score | None = Field(
        description="Spelling and legibility of the promotional text, 1..5; null when there is none."
    )
    notes: str = Field(description="One or two sentences on what to fix, if anything.")


ANSWERS: tuple[type[Answer], ...] = (ImageAnalysis, Strategies, StyleGuidance, VisualConcept, Assessment)
"""Every stage's answer model, in pipeline order."""


_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


def answer_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The strict JSON schema of `model`, as the SDK's own structured-output helpers build it (built once)."""
    if model not in _SCHEMAS:
        _SCHEMAS[model] = to_strict_json_schema(model)
    return _SCHEMAS[model]


_JSON_TYPES = {
    "string_type": "string",
    "int_type": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "bool_type": "boolean",
    "list_type": "array",
    "model_type": "object",
    "dict_type": "object",
    "model_attributes_type": "object",
    "none_required": "null",
}


def _path(loc: tuple[int | str, ...]) -> str:
    """A JSON path like $.strategies[0].target_audience."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def misfits(exc: ValidationError) -> list[str]:
    """Where an answer breaks its model, one phrase each ("$.x should be string", "$.y is missing")."""
    phrases = []
    for error in exc.errors(include_url=False):
        path, kind, context = _path(error["loc"]), error["type"], error.get("ctx") or {}
        if kind == "missing":
            phrases.append(f"{path} is missing")
        elif kind == "extra_forbidden":
            phrases.append(f"{path} is not allowed")
        elif kind in _JSON_TYPES:
            phrases.append(f"{path} should be {_JSON_TYPES[kind]}")
        elif kind == "string_pattern_mismatch":
            phrases.append(f"{path} does not match {context.get('pattern')}")
        elif kind == "greater_than_equal":
            phrases.append(f"{path} is below {context.get('ge')}")
        elif kind == "less_than_equal":
            phrases.append(f"{path} is above {context.get('le')}")
        else:
            phrases.append(f"{path}: {error['msg']}")
    return phrases


def is_malformed_json(exc: ValidationError) -> bool:
    """Whether the answer was not JSON at all (rather than JSON of the wrong shape)."""
    return any(error["type"] == "json_invalid" for error in exc.errors(include_url=False))
