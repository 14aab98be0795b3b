"""What the generation stages ask a text model: one strict JSON schema and one instruction per stage.

Both providers answer in these shapes: the OpenAI provider sends the schema as a structured-output
response format, the offline provider builds the same structure from the inputs. Every answer is
checked with `check_answer` before a stage uses it, so a malformed answer fails the stage with a
message instead of breaking a later one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from churns_gql.providers.base import ProviderError, StructuredRequest

IMAGE_EVAL = "image_eval"
STRATEGY = "strategy"
STYLE_GUIDE = "style_guide"
CREATIVE_EXPERT = "creative_expert"
IMAGE_ASSESSMENT = "image_assessment"
TEXT_STAGES = (IMAGE_EVAL, STRATEGY, STYLE_GUIDE, CREATIVE_EXPERT, IMAGE_ASSESSMENT)

DEFAULT_TEXT_MODEL = "gpt-4.1-mini"
DEFAULT_IMAGE_QUALITY = "medium"
REPAIR_THRESHOLD = 3
"""A text_rendering or subject_preservation score below this flags the image for repair."""


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object schema whose properties are all required."""
    # Strict structured outputs require every property listed as required and no others allowed.
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _text(description: str) -> dict[str, Any]:
    """A string property with its description."""
    return {"type": "string", "description": description}


def _list(items: dict[str, Any], description: str) -> dict[str, Any]:
    """An array property of `items` with its description."""
    return {"type": "array", "items": items, "description": description}


_HEX = {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "description": "A colour as #RRGGBB."}
_SCORE = {"type": "integer", "minimum": 1, "maximum": 5}

IMAGE_ANALYSIS = _object(
    main_subject=_text("The main subject of the image, concretely (what it is, colour, material)."),
    setting=_text("Where the subject is: background, surface, surroundings."),
    style=_text("Photographic or illustrative style, lighting and mood."),
    text_in_image=_text("Any lettering visible in the image, verbatim; empty when there is none."),
    dominant_colors=_list(_HEX, "The 3 to 5 most prominent colours."),
)

STRATEGIES = _object(
    strategies=_list(
        _object(
            target_audience=_text("Who the image speaks to."),
            target_niche=_text("The market niche or category."),
            target_objective=_text("What the image should achieve, e.g. drive sales or build awareness."),
            target_voice=_text("The brand voice, e.g. playful, premium, friendly."),
        ),
        "Distinct audience/objective/voice combinations, as many as requested.",
    )
)

STYLE_GUIDANCE = _object(
    style_guidance=_list(
        _object(
            style_keywords=_list({"type": "string"}, "3 to 6 keywords naming the style."),
            style_description=_text("The style direction in one or two sentences."),
            marketing_impact=_text("Why this style serves its strategy."),
        ),
        "One style direction per strategy, in the strategies' order.",
    )
)

VISUAL_CONCEPT = _object(
    main_subject=_text("The subject, described so an image model renders it faithfully."),
    composition=_text("Framing, camera angle and where things sit, for the platform's aspect ratio."),
    background=_text("The background and environment."),
    lighting_and_mood=_text("Lighting and the mood it creates."),
    color_palette=_list(_HEX, "4 or 5 colours, the background's first."),
    visual_style=_text("The visual style, e.g. clean studio product photography."),
    promotional_text_visuals=_object(
        text=_text("The exact promotional text to render, in the requested language; empty for none."),
        style=_text("Typography: font character, weight, colour."),
        placement={"type": "string", "enum": ["top", "center", "bottom"], "description": "Where the text sits."},
    ),
    negative_elements=_list({"type": "string"}, "Things the image must not show."),
)

ASSESSMENT = _object(
    concept_adherence=dict(_SCORE, description="How well the image follows its visual concept, 1..5."),
    technical_quality=dict(_SCORE, description="Sharpness, artefacts, composition, 1..5."),
    subject_preservation={"type": ["integer", "null"], "minimum": 1, "maximum": 5,
                          "description": "How faithfully the reference subject is kept, 1..5; null without a reference."},
    text_rendering={"type": ["integer", "null"], "minimum": 1, "maximum": 5,
                    "description": "Spelling and legibility of the promotional text, 1..5; null when there is none."},
    notes=_text("One or two sentences on what to fix, if anything."),
)

SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    IMAGE_EVAL: ("image_analysis", IMAGE_ANALYSIS),
    STRATEGY: ("marketing_strategies", STRATEGIES),
    STYLE_GUIDE: ("style_guidance", STYLE_GUIDANCE),
    CREATIVE_EXPERT: ("visual_concept", VISUAL_CONCEPT),
    IMAGE_ASSESSMENT: ("image_assessment", ASSESSMENT),
}
"""Stage → (schema name, JSON schema) of its structured answer."""

INSTRUCTIONS: dict[str, str] = {
    IMAGE_EVAL: (
        "You are a visual analyst for a marketing team. Describe the attached reference image: its main "
        "subject, the setting, the style, any text in it (verbatim) and its dominant colours. Be concrete; "
        "the description is used to keep the subject recognisable in new marketing images."
    ),
    STRATEGY: (
        "You are a marketing strategist. From the brief (JSON), propose `num_strategies` distinct "
        "combinations of target audience, niche, objective and brand voice for social media images on "
        "the given platform. Make them meaningfully different from each other."
    ),
    STYLE_GUIDE: (
        "You are an art director. For each marketing strategy in the brief (JSON), in order, give one "
        "visual style direction that serves it on the given platform: keywords, a short description and "
        "why it works. Return exactly one entry per strategy."
    ),
    CREATIVE_EXPERT: (
        "You are a creative director writing the visual concept for one marketing image. Use the brief, "
        "the strategy and the style direction (JSON). Compose for the platform's aspect ratio. When a "
        "reference analysis is given, the main subject is that reference subject and must stay "
        "recognisable. Write the promotional text in the requested language, short enough to read at a "
        "glance (at most 6 words), and give the colour palette as #RRGGBB."
    ),
    IMAGE_ASSESSMENT: (
        "You are a strict quality reviewer of marketing images. Score the attached image against its "
        "visual concept (JSON) from 1 (poor) to 5 (excellent): concept adherence, technical quality, "
        "subject preservation (only when a reference subject is given, else null) and text rendering "
        "(spelling and legibility of the intended text; null when no text is intended)."
    ),
}
"""Stage → the system instruction of its question."""


def structured_request(stage: str, payload: dict[str, Any], images: list[Any] | None = None) -> StructuredRequest:
    """The question `stage` asks, with its schema and instruction."""
    name, schema = SCHEMAS[stage]
    return StructuredRequest(stage=stage, schema_name=name, schema=schema, instructions=INSTRUCTIONS[stage],
                             payload=payload, images=list(images or []))


# -- checking answers ------------------------------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}


def _type_ok(value: Any, name: str) -> bool:
    """Whether `value` is of the JSON type `name`."""
    # bool is an int subclass in Python, but not a JSON integer.
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def schema_problems(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """Where `value` breaks `schema` (the subset strict structured outputs use); empty when it fits."""
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if names and not any(_type_ok(value, n) for n in names):
        return [f"{path} should be {' or '.join(names)}"]
    if value is None:
        return []
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path} should be one of {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{path} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path} is above {schema['maximum']}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(schema["items"], item, f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}.{key} is missing" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}.{key} is not allowed" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                problems += schema_problems(sub, value[key], f"{path}.{key}")
    return problems


def provider_label(provider: str) -> str:
    """How messages name a provider: "OpenAI", or "The local provider"."""
    return "OpenAI" if provider == "openai" else f"The {provider} provider"


def check_answer(request: StructuredRequest, value: Any, provider: str) -> dict[str, Any]:
    """`value` when it fits the request's schema; else a ProviderError naming the first misfit."""
    problems = schema_problems(request.schema, value)
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise ProviderError(
            "unavailable",
            f"{provider_label(provider)} answered the {request.stage} stage in an unexpected shape "
            f"({problems[0]}{more}); try again",
        )
    return value


def needs_repair(score: int | None) -> bool:
    """Whether a text or subject score is low enough to suggest a repair refinement."""
    return score is not None and score < REPAIR_THRESHOLD


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationConfig:
    """configs/generation.yml: the chat model per text stage and the image quality."""

    text_models: dict[str, str]
    image_quality: str = DEFAULT_IMAGE_QUALITY

    def model_for(self, stage: str) -> str:
        """The chat model `stage` uses."""
        return self.text_models.get(stage) or self.text_models.get("default") or DEFAULT_TEXT_MODEL


@lru_cache(maxsize=4)
def load_generation_config(path: Path) -> GenerationConfig:
    """The generation settings in `path`; defaults when the file is absent."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        data = {}
    models = data.get("text_models") or {}
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise ValueError(f"{path}: text_models must map stage names to model names")
    quality = str(data.get("image_quality") or DEFAULT_IMAGE_QUALITY)
    if quality not in ("low", "medium", "high", "auto"):
        raise ValueError(f"{path}: image_quality must be low, medium, high or auto, not {quality!r}")
    return GenerationConfig(text_models={str(k): v for k, v in models.items()}, image_quality=quality)


def first_n(items: list[Any], n: int, request: StructuredRequest, provider: str, what: str) -> list[Any]:
    """The first `n` items of an answer's list; a ProviderError when the model gave fewer."""
    if len(items) < n:
        raise ProviderError(
            "unavailable",
            f"{provider_label(provider)} gave {len(items)} {what} for {n} images in the {request.stage} stage; try again",
        )
    return items[:n]
