"""What the generation stages ask a text model: one answer model (generation_answers) and one instruction per stage.

Both providers answer with these models: the OpenAI provider sends the model's strict schema as a
structured-output response format and its JSON comes back through `check_answer`, the offline provider
builds instances from the inputs. A malformed answer fails the stage with a message naming the misfit
instead of breaking a later one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from churns_gql.providers.base import ProviderError, StructuredRequest
from churns_gql.providers.generation_answers import ANSWERS, Answer, answer_schema, is_malformed_json, misfits
from churns_gql.providers.openai_catalog import load_catalogue

A = TypeVar("A", bound=Answer)
T = TypeVar("T")

IMAGE_EVAL = "image_eval"
STRATEGY = "strategy"
STYLE_GUIDE = "style_guide"
CREATIVE_EXPERT = "creative_expert"
IMAGE_ASSESSMENT = "image_assessment"
TEXT_STAGES = (IMAGE_EVAL, STRATEGY, STYLE_GUIDE, CREATIVE_EXPERT, IMAGE_ASSESSMENT)

DEFAULT_IMAGE_QUALITY = "medium"
REPAIR_THRESHOLD = 3
"""A text_rendering or subject_preservation score below this flags the image for repair."""


SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    model.stage: (model.schema_name, answer_schema(model)) for model in ANSWERS
}
"""Stage → (schema name, strict JSON schema) of its structured answer, from the answer models."""

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


def structured_request(
    answer: type[A], payload: dict[str, Any], images: list[Any] | None = None
) -> StructuredRequest[A]:
    """The question whose answer is an `answer`, with its stage's instruction."""
    return StructuredRequest(
        answer=answer, instructions=INSTRUCTIONS[answer.stage], payload=payload, images=list(images or [])
    )


def provider_label(provider: str) -> str:
    """How messages name a provider: "OpenAI", or "The local provider"."""
    return "OpenAI" if provider == "openai" else f"The {provider} provider"


def check_answer(request: StructuredRequest[A], value: Any, provider: str) -> A:
    """The answer as its model: an instance as is, JSON text or parsed JSON validated; else a ProviderError."""
    model = request.answer
    if isinstance(value, model):
        return value
    try:
        return model.model_validate_json(value) if isinstance(value, (str, bytes)) else model.model_validate(value)
    except ValidationError as exc:
        if is_malformed_json(exc):
            raise ProviderError(
                "unavailable",
                f"{provider_label(provider)} answered the {request.stage} stage with malformed JSON; try again",
            ) from None
        problems = misfits(exc)
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise ProviderError(
            "unavailable",
            f"{provider_label(provider)} answered the {request.stage} stage in an unexpected shape "
            f"({problems[0]}{more}); try again",
        ) from None


def needs_repair(score: int | None) -> bool:
    """Whether a text or subject score is low enough to suggest a repair refinement."""
    return score is not None and score < REPAIR_THRESHOLD


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationConfig:
    """configs/generation.yml: the chat model per text stage and the image quality."""

    text_models: dict[str, str]
    image_quality: str = DEFAULT_IMAGE_QUALITY
    default_model: str = ""

    def model_for(self, stage: str) -> str:
        """The chat model `stage` uses: its own, else text_models.default, else the catalogue's default."""
        return self.text_models.get(stage) or self.text_models.get("default") or self.default_model


def _catalogue_chat_model(configs_dir: Path) -> str:
    """defaults.chat_model of the model catalogue in `configs_dir`, "" when there is none."""
    # The fallback lives in the catalogue, next to the shutdown dates, so it cannot fall behind them.
    try:
        return load_catalogue(configs_dir).default_chat_model
    except FileNotFoundError:
        return ""


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
    return GenerationConfig(
        text_models={str(k): v for k, v in models.items()},
        image_quality=quality,
        default_model=_catalogue_chat_model(path.parent),
    )


def first_n(items: list[T], n: int, request: StructuredRequest[Any], provider: str, what: str) -> list[T]:
    """The first `n` items of an answer's list; a ProviderError when the model gave fewer."""
    if len(items) < n:
        raise ProviderError(
            "unavailable",
            f"{provider_label(provider)} gave {len(items)} {what} for {n} images in the {request.stage} stage; try again",
        )
    return items[:n]
