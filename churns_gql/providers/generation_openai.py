"""The generation pipeline through OpenAI: structured chat completions for the text stages, GPT Image for the originals.

Text stages call chat completions with `response_format={"type": "json_schema", "json_schema":
{"name", "strict": true, "schema"}}`, the stage's schema from providers/generation.py, and the chat
model configs/generation.yml names for the stage; images the stage looks at go along as data URLs.
Originals come from `images.generate` (or `images.edit` with the reference as the image) at the
supported size nearest the platform's aspect, then are cropped to the platform's exact size. Every
call's usage is priced with configs/pricing.yml.
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
from churns_gql.providers.base import (
    GeneratedImage,
    ImageRequest,
    ProviderError,
    StructuredRequest,
    StructuredResult,
    Usage,
)
from churns_gql.providers.generation import TEXT_STAGES, GenerationConfig, load_generation_config
from churns_gql.providers.openai import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    _as_png,
    _decode_b64_image,
    accepts_input_fidelity,
    choose_size,
    to_provider_error,
    usage_from_api,
)
from churns_gql.providers.pricing import Pricing, load_pricing, require_prices

VISION_MAX_SIDE = 768
"""Images shown to a chat model are scaled to fit this square first: enough to judge, cheap to send."""

_CHAT_CATEGORIES = ("text_input", "text_output")
_IMAGE_CATEGORIES = ("text_input", "image_input", "image_output")


def _data_url(image: Image.Image) -> str:
    """`image`, shrunk to fit VISION_MAX_SIDE, as a PNG data URL."""
    small = image.copy()
    small.thumbnail((VISION_MAX_SIDE, VISION_MAX_SIDE), Image.Resampling.LANCZOS)
    return "data:image/png;base64," + base64.b64encode(_as_png(small)).decode("ascii")


def chat_params(request: StructuredRequest, model: str) -> dict[str, Any]:
    """The chat.completions.create keyword arguments for a stage's question."""
    content: list[dict[str, Any]] = [{"type": "text", "text": json.dumps(request.payload, ensure_ascii=False)}]
    content += [{"type": "image_url", "image_url": {"url": _data_url(image), "detail": "low"}}
                for image in request.images]
    return {
        "model": model,
        "messages": [{"role": "system", "content": request.instructions}, {"role": "user", "content": content}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "strict": True, "schema": request.schema},
        },
    }


def chat_usage(api_usage: Any, model: str) -> Usage | None:
    """Our Usage from a chat completion's usage block (prompt tokens include any image input)."""
    if api_usage is None:
        return None
    return Usage(model=model, text_input_tokens=int(api_usage.prompt_tokens or 0),
                 text_output_tokens=int(api_usage.completion_tokens or 0))


def generation_error(exc: openai.OpenAIError, model: str, setting: str) -> ProviderError:
    """to_provider_error's mapping, worded for generation rather than editing, naming the model's `setting`."""
    if isinstance(exc, openai.NotFoundError):
        return ProviderError("bad_request", f"OpenAI does not offer {model} to this account; check {setting}")
    error = to_provider_error(exc, model)
    # The shared mapping speaks of refinement edits; a generation call is a request like any other.
    return ProviderError(error.kind, error.message.replace("the edit request", "the request")
                         .replace("this edit", "this request").replace("while editing", "while generating"))


def _fit(b64: str, size: tuple[int, int]) -> Image.Image:
    """Decode an image and crop-scale it to exactly `size` (the platform's aspect may not be a supported one)."""
    image = _decode_b64_image(b64).convert("RGB")
    return image if image.size == size else ImageOps.fit(image, size, Image.Resampling.LANCZOS)


class OpenAIGenerationProvider:
    """A GenerationProvider on OpenAI's chat completions and GPT Image endpoints."""

    name = "openai"

    def __init__(self, client: openai.AsyncOpenAI, image_model: str, pricing: Pricing, config: GenerationConfig) -> None:
        """Use `client`; raises UnknownModelPrice or MissingTokenPrice now if a configured model cannot be costed."""
        require_prices(pricing, image_model, _IMAGE_CATEGORIES)
        for stage in TEXT_STAGES:
            require_prices(pricing, config.model_for(stage), _CHAT_CATEGORIES)
        self.client = client
        self.image_model = image_model
        self.pricing = pricing
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings, *, max_retries: int = DEFAULT_MAX_RETRIES,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> OpenAIGenerationProvider:
        """A provider for the configured key, base URL and models, priced from configs_dir/pricing.yml."""
        if not settings.openai_api_key:
            raise ProviderError("auth", "OPENAI_API_KEY is not set; set it to use the OpenAI provider")
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            max_retries=max_retries,
            timeout=openai.Timeout(timeout_s, connect=10.0),
        )
        return cls(client, settings.openai_image_model, load_pricing(settings.configs_dir / "pricing.yml"),
                   load_generation_config(settings.configs_dir / "generation.yml"))

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        """Ask the stage's chat model with the stage's schema as a strict structured output."""
        model = self.config.model_for(request.stage)
        params = await asyncio.to_thread(chat_params, request, model)
        try:
            response = await self.client.chat.completions.create(**params)
        except openai.OpenAIError as exc:
            raise generation_error(exc, model, f"text_models.{request.stage} in configs/generation.yml") from exc
        usage = chat_usage(response.usage, model)
        cost = self.pricing.cost(usage) if usage is not None else 0.0
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else None
        if message is not None and message.refusal:
            raise ProviderError("content_policy", f"OpenAI declined the {request.stage} stage: {message.refusal[:200]}")
        if choice is None or choice.finish_reason == "length" or not message or not message.content:
            raise ProviderError("unavailable", f"OpenAI gave no complete answer for the {request.stage} stage; try again")
        try:
            value = json.loads(message.content)
        except ValueError:
            raise ProviderError("unavailable", f"OpenAI answered the {request.stage} stage with malformed JSON; try again") from None
        return StructuredResult(value=value, usage=usage, cost_usd=cost)

    def image_params(self, request: ImageRequest) -> dict[str, Any]:
        """The images.generate (or images.edit) keyword arguments, without the reference file."""
        width, height = choose_size(request.width, request.height)
        params: dict[str, Any] = {
            "model": self.image_model,
            "prompt": request.prompt,
            "n": 1,
            "size": f"{width}x{height}",
            "quality": self.config.image_quality,
            "output_format": "png",
        }
        if request.reference is not None and accepts_input_fidelity(self.image_model):
            # The reference is the product: keep its details rather than reinterpret them.
            params["input_fidelity"] = "high"
        return params

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """One original: images.generate, or images.edit of the reference; cropped to the exact size."""
        params = self.image_params(request)
        try:
            if request.reference is not None:
                png = await asyncio.to_thread(_as_png, request.reference)
                response = await self.client.images.edit(image=("reference.png", png, "image/png"), **params)
            else:
                response = await self.client.images.generate(**params)
        except openai.OpenAIError as exc:
            raise generation_error(exc, self.image_model, "CHURNS_OPENAI_IMAGE_MODEL") from exc
        usage = usage_from_api(response.usage, self.image_model, self.pricing)
        cost = self.pricing.cost(usage) if usage is not None else 0.0
        first = response.data[0] if response.data else None
        if first is None or not first.b64_json:
            raise ProviderError("unavailable", "OpenAI returned no image; try again")
        try:
            image = await asyncio.to_thread(_fit, first.b64_json, (request.width, request.height))
        except (binascii.Error, ValueError, OSError) as exc:
            raise ProviderError("unavailable", "OpenAI returned an image that could not be read; try again") from exc
        call = "edit of the reference" if request.reference is not None else "generation"
        notes = f"{call} with {self.image_model} at {params['size']}, quality {params['quality']}"
        if usage is None:
            notes += "; OpenAI reported no token usage, so the cost is unknown"
        return GeneratedImage(image=image, usage=usage, cost_usd=cost, notes=notes)
