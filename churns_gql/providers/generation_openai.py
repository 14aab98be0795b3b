"""The generation pipeline through OpenAI: structured chat completions for the text stages, GPT Image for the originals.

Text stages call chat completions with `response_format={"type": "json_schema", "json_schema":
{"name", "strict": true, "schema"}}`, the strict schema the SDK derives from the stage's answer model
(providers/generation_answers.py), and the chat model configs/generation.yml names for the stage; images
the stage looks at go along as data URLs. The answer's JSON is validated against the model by the
caller after its cost is counted (`chat.completions.parse` would raise before the usage of an answer
that misfits could be read, and such an answer is billed too).
Originals come from `images.generate` (or `images.edit` with the reference as the image) at the size
of the model's rules nearest the platform's aspect (openai_sizes), then are scaled uniformly and
cropped to the platform's exact size. Image calls use our retries (never after a timeout), chat calls
the SDK's. Every model must be current in configs/openai_models.yml, whose prices cost every call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import openai
from PIL import Image, ImageOps

from churns_gql.config import Settings
from churns_gql.imaging import encode_png
from churns_gql.providers.base import (
    GeneratedImage,
    ImageRequest,
    ProviderError,
    StructuredRequest,
    StructuredResult,
    Usage,
)
from churns_gql.providers.generation import TEXT_STAGES, GenerationConfig, load_generation_config
from churns_gql.providers.generation_answers import answer_schema
from churns_gql.providers.openai import DEFAULT_TIMEOUT_S, decode_b64_image, usage_from_api
from churns_gql.providers.openai_catalog import (
    Catalogue,
    chat_model_problem,
    image_model_problem,
    load_catalogue,
    shutdown_warning,
)
from churns_gql.providers.openai_errors import IMAGE_MODEL_SETTING, to_provider_error
from churns_gql.providers.openai_retry import RetryPolicy, Sleep, call_with_retries
from churns_gql.providers.openai_sizes import request_size
from churns_gql.providers.pricing import require_prices

DEFAULT_MAX_RETRIES = 2
"""SDK retries for chat calls (cheap, and a chat answer is never half-billed like an image)."""

VISION_MAX_SIDE = 768
"""Images shown to a chat model are scaled to fit this square first: enough to judge, cheap to send."""

_CHAT_CATEGORIES = ("text_input", "text_output")
_IMAGE_CATEGORIES = ("text_input", "image_input", "image_output")


def _data_url(image: Image.Image) -> str:
    """`image`, shrunk to fit VISION_MAX_SIDE, as a PNG data URL."""
    small = image.copy()
    small.thumbnail((VISION_MAX_SIDE, VISION_MAX_SIDE), Image.Resampling.LANCZOS)
    return "data:image/png;base64," + base64.b64encode(encode_png(_rgb_or_rgba(small))).decode("ascii")


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    """`image` in RGB or RGBA, the modes the API reads reliably."""
    mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
    return image if image.mode == mode else image.convert(mode)


def chat_params(request: StructuredRequest[Any], model: str) -> dict[str, Any]:
    """The chat.completions.create keyword arguments for a stage's question."""
    content: list[dict[str, Any]] = [{"type": "text", "text": json.dumps(request.payload, ensure_ascii=False)}]
    content += [
        {"type": "image_url", "image_url": {"url": _data_url(image), "detail": "low"}} for image in request.images
    ]
    return {
        "model": model,
        "messages": [{"role": "system", "content": request.instructions}, {"role": "user", "content": content}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "strict": True, "schema": answer_schema(request.answer)},
        },
    }


def chat_usage(api_usage: Any, model: str) -> Usage | None:
    """Our Usage from a chat completion's usage block (prompt tokens include any image input and cached tokens)."""
    if api_usage is None:
        return None
    details = getattr(api_usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    prompt = int(api_usage.prompt_tokens or 0)
    return Usage(
        model=model,
        text_input_tokens=max(0, prompt - cached),
        cached_input_tokens=min(cached, prompt),
        text_output_tokens=int(api_usage.completion_tokens or 0),
    )


def stage_setting(stage: str) -> str:
    """Where the chat model of `stage` is set, for messages about it."""
    return f"text_models.{stage} in configs/generation.yml"


def generation_error(exc: openai.OpenAIError, model: str, setting: str) -> ProviderError:
    """to_provider_error's mapping, worded for generation rather than editing, naming the model's `setting`."""
    return to_provider_error(exc, model, setting, action="request")


def _fit(b64: str, size: tuple[int, int]) -> Image.Image:
    """Decode an image and crop-scale it to exactly `size` (the platform's aspect may not be a supported one)."""
    image = decode_b64_image(b64).convert("RGB")
    return image if image.size == size else ImageOps.fit(image, size, Image.Resampling.LANCZOS)


class OpenAIGenerationProvider:
    """A GenerationProvider on OpenAI's chat completions and GPT Image endpoints."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        image_model: str,
        catalogue: Catalogue,
        config: GenerationConfig,
        *,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Use `client`; ProviderError now if a configured model is unknown, shut down or unpriced."""
        problems = [image_model_problem(catalogue, image_model, IMAGE_MODEL_SETTING)]
        problems += [
            chat_model_problem(catalogue, config.model_for(stage), stage_setting(stage)) for stage in TEXT_STAGES
        ]
        if any(problems):
            raise ProviderError("bad_request", "; ".join(p for p in problems if p), code="model_not_found")
        require_prices(catalogue.pricing, image_model, _IMAGE_CATEGORIES)
        for stage in TEXT_STAGES:
            require_prices(catalogue.pricing, config.model_for(stage), _CHAT_CATEGORIES)
        self.client = client
        # The SDK would re-send an image call after a timeout, billing it twice; ours never does.
        self.image_client = client.with_options(max_retries=0)
        self.image_model = image_model
        self.spec = catalogue.image_model(image_model)
        self.pricing = catalogue.pricing
        self.config = config
        self.retry = retry
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: Settings, *, max_retries: int = DEFAULT_MAX_RETRIES, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> OpenAIGenerationProvider:
        """A provider for the configured key, base URL and models, with the catalogue in configs_dir."""
        if not settings.openai_api_key:
            raise ProviderError("auth", "OPENAI_API_KEY is not set; set it to use the OpenAI provider")
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            max_retries=max_retries,
            timeout=openai.Timeout(timeout_s, connect=10.0),
        )
        return cls(
            client,
            settings.openai_image_model,
            load_catalogue(settings.configs_dir),
            load_generation_config(settings.configs_dir / "generation.yml"),
        )

    async def structured(self, request: StructuredRequest[Any]) -> StructuredResult:
        """Ask the stage's chat model with the answer's schema as a strict structured output; the JSON text back."""
        model = self.config.model_for(request.stage)
        params = await asyncio.to_thread(chat_params, request, model)
        try:
            response = await self.client.chat.completions.create(**params)
        except openai.OpenAIError as exc:
            raise generation_error(exc, model, stage_setting(request.stage)) from exc
        usage = chat_usage(response.usage, model)
        cost = self.pricing.cost(usage) if usage is not None else None
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else None
        if message is not None and message.refusal:
            raise ProviderError("content_policy", f"OpenAI declined the {request.stage} stage: {message.refusal[:200]}")
        if choice is None or choice.finish_reason == "length" or not message or not message.content:
            raise ProviderError(
                "unavailable", f"OpenAI gave no complete answer for the {request.stage} stage; try again"
            )
        return StructuredResult(value=message.content, usage=usage, cost_usd=cost)

    def image_params(self, request: ImageRequest) -> dict[str, Any]:
        """The images.generate (or images.edit) keyword arguments, without the reference file."""
        width, height = request_size(self.spec, request.width, request.height)
        params: dict[str, Any] = {
            "model": self.image_model,
            "prompt": request.prompt,
            "n": 1,
            "size": f"{width}x{height}",
            "output_format": "png",
        }
        if self.config.image_quality in self.spec.qualities:
            params["quality"] = self.config.image_quality
        if request.reference is not None and "high" in self.spec.input_fidelity:
            # The reference is the product: keep its details rather than reinterpret them.
            params["input_fidelity"] = "high"
        return params

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """One original: images.generate, or images.edit of the reference; cropped to the exact size."""
        params = self.image_params(request)
        reference = request.reference
        if reference is not None:
            png = await asyncio.to_thread(lambda: encode_png(_rgb_or_rgba(reference)))
            call = lambda: self.image_client.images.edit(image=("reference.png", png, "image/png"), **params)  # noqa: E731
        else:
            call = lambda: self.image_client.images.generate(**params)  # noqa: E731
        response = await call_with_retries(
            call,
            model=self.image_model,
            setting=IMAGE_MODEL_SETTING,
            action="generation",
            policy=self.retry,
            sleep=self.sleep,
        )
        usage = usage_from_api(response.usage, self.image_model, self.pricing)
        cost = self.pricing.cost(usage) if usage is not None else None
        first = response.data[0] if response.data else None
        if first is None or not first.b64_json:
            raise ProviderError("unavailable", "OpenAI returned no image; try again", spent_usd=cost)
        try:
            image = await asyncio.to_thread(_fit, first.b64_json, (request.width, request.height))
        except (binascii.Error, ValueError, OSError) as exc:
            raise ProviderError(
                "unavailable", "OpenAI returned an image that could not be read; try again", spent_usd=cost
            ) from exc
        made_by = "edit of the reference" if request.reference is not None else "generation"
        notes = f"{made_by} with {self.image_model} at {params['size']}, quality {params['quality']}"
        if usage is None:
            notes += "; OpenAI reported no token usage, so the cost is unknown"
        return GeneratedImage(image=image, usage=usage, cost_usd=cost, notes=notes)


def configured_model_problems(settings: Settings) -> tuple[list[str], list[str]]:
    """Errors (unknown or shut-down models, each naming its setting) and shutdown warnings for the OpenAI provider."""
    catalogue = load_catalogue(settings.configs_dir)
    config = load_generation_config(settings.configs_dir / "generation.yml")
    named = [(settings.openai_image_model, IMAGE_MODEL_SETTING, image_model_problem)]
    named += [(config.model_for(stage), stage_setting(stage), chat_model_problem) for stage in TEXT_STAGES]
    errors: list[str] = []
    warnings: list[str] = []
    for model, setting, check in named:
        problem = check(catalogue, model, setting)
        if problem and problem not in errors:
            errors.append(problem)
        warning = None if problem else shutdown_warning(catalogue, model, setting)
        if warning and warning not in warnings:
            warnings.append(warning)
    return errors, warnings
