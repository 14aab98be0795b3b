"""Refinement edits through OpenAI's image edit endpoint (GPT Image models), on the models of the catalogue.

Every refinement is one `images.edit` call: the parent padded to the requested size's aspect
(openai_sizes), for SUBJECT the reference image second, for PROMPT with regions a mask whose
transparent pixels mark where to edit. The result is cropped back to the parent's exact size without
stretching; a masked result is composited with the parent, so outside the regions (and their thin
feather band) every pixel is the parent's. Parameters the model does not take are never sent, retries
are ours (openai_retry), and the cost is the reported token usage × the catalogue's prices.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import openai
from PIL import Image

from churns_gql.config import Settings
from churns_gql.imaging import composite, feathered_mask
from churns_gql.providers.base import EditRequest, EditResult, ProviderError, RefinementType, Usage
from churns_gql.providers.openai_catalog import Catalogue, image_model_problem, load_catalogue
from churns_gql.providers.openai_errors import BILLED_NOTE, IMAGE_MODEL_SETTING, to_provider_error
from churns_gql.providers.openai_prompts import CREATIVITY, build_prompt, creativity_style, user_text
from churns_gql.providers.openai_retry import RetryPolicy, Sleep, call_with_retries
from churns_gql.providers.openai_sizes import (
    SizePlan,
    crop_back,
    edit_mask,
    fit_limits,
    pad_to_canvas,
    plan_size,
    working_image,
)
from churns_gql.providers.pricing import Pricing, require_prices

__all__ = ["CREATIVITY", "OpenAIImageEditor", "build_prompt", "to_provider_error", "usage_from_api"]

PARTIAL_IMAGES = 2
"""How many partial images to ask for when streaming (the API allows 0..3)."""

DEFAULT_TIMEOUT_S = 300.0
"""Per-request timeout; high-quality edits of large images can take a couple of minutes."""

_BILLED_CATEGORIES = ("text_input", "image_input", "image_output")


def usage_from_api(api_usage: Any, model: str, pricing: Pricing) -> Usage | None:
    """Our Usage from the usage block of an images response or completed event, None if absent."""
    if api_usage is None:
        return None
    input_tokens = int(getattr(api_usage, "input_tokens", 0) or 0)
    output_tokens = int(getattr(api_usage, "output_tokens", 0) or 0)
    details = getattr(api_usage, "input_tokens_details", None)
    if details is not None:
        text_in = int(getattr(details, "text_tokens", 0) or 0)
        image_in = int(getattr(details, "image_tokens", 0) or 0)
    else:
        # An unsplit input count is priced as image input, the dearer rate, so cost is never understated.
        text_in, image_in = 0, input_tokens
    out_details = getattr(api_usage, "output_tokens_details", None)
    if out_details is not None and pricing.prices_category(model, "text_output"):
        image_out = int(getattr(out_details, "image_tokens", 0) or 0)
        text_out = int(getattr(out_details, "text_tokens", 0) or 0)
    else:
        # Without a text-output price every output token is billed as an image token.
        image_out, text_out = output_tokens, 0
    return Usage(
        model=model,
        text_input_tokens=text_in,
        image_input_tokens=image_in,
        image_output_tokens=image_out,
        text_output_tokens=text_out,
    )


def decode_b64_image(b64: str) -> Image.Image:
    """A fully loaded image from base64 data; raises on invalid data."""
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """`image` converted to `mode`, or unchanged when Pillow cannot convert to it."""
    if image.mode == mode:
        return image
    if mode == "P":
        # Pillow's default RGB→P uses a fixed web palette with dithering, which visibly degrades photos.
        if image.mode == "RGBA":
            return image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        return image.convert("P", palette=Image.Palette.ADAPTIVE)
    try:
        return image.convert(mode)
    except ValueError:
        return image


@dataclass
class _Prepared:
    """One edit ready to send: the size plan, the files, and the composite weight of a masked edit."""

    plan: SizePlan
    files: dict[str, Any]
    weight: np.ndarray | None
    scale: float


class OpenAIImageEditor:
    """An ImageEditor that refines images with OpenAI's GPT Image edit endpoint."""

    name = "openai"
    # A sent edit is billed even if the job is aborted: wait this long for its usage (past the call's own timeout).
    billing_grace_s = DEFAULT_TIMEOUT_S + 15.0

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        catalogue: Catalogue,
        *,
        stream_partials: bool = True,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Use `client` (its own retries are switched off) and `model`; ProviderError now if the model is unusable."""
        problem = image_model_problem(catalogue, model, IMAGE_MODEL_SETTING)
        if problem:
            raise ProviderError("bad_request", problem, code="model_not_found")
        require_prices(catalogue.pricing, model, _BILLED_CATEGORIES)
        # The SDK would re-send an edit after a timeout, billing it twice; ours never does.
        self.client = client.with_options(max_retries=0)
        self.model = model
        self.spec = catalogue.image_model(model)
        self.catalogue = catalogue
        self.pricing = catalogue.pricing
        self.stream_partials = stream_partials
        self.retry = retry
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: Settings, *, stream_partials: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> OpenAIImageEditor:
        """An editor for the configured key, base URL and model, with the catalogue in configs_dir."""
        if not settings.openai_api_key:
            raise ProviderError("auth", "OPENAI_API_KEY is not set; set it to use the OpenAI provider")
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            max_retries=0,
            timeout=openai.Timeout(timeout_s, connect=10.0),
        )
        return cls(
            client, settings.openai_image_model, load_catalogue(settings.configs_dir), stream_partials=stream_partials
        )

    def call_params(self, request: EditRequest, plan: SizePlan | None = None) -> dict[str, Any]:
        """The images.edit keyword arguments for `request`, without the files: only what the model takes."""
        style = creativity_style(request.creativity)
        plan = plan or plan_size(self.spec, request.image.size)
        params: dict[str, Any] = {
            "model": self.model,
            "prompt": build_prompt(request),
            "n": 1,
            "size": plan.size_param,
            "output_format": "png",
        }
        if style.quality in self.spec.qualities:
            params["quality"] = style.quality
        if style.input_fidelity in self.spec.input_fidelity:
            params["input_fidelity"] = style.input_fidelity
        return params

    def _prepare(self, request: EditRequest) -> _Prepared:
        """Plan the size, pad the parent (and mask) and encode them within the API's byte limits."""
        plan = plan_size(self.spec, request.image.size)
        weight = None
        mask = None
        if request.kind == RefinementType.PROMPT and request.rects:
            weight = feathered_mask(request.image.size, request.rects)
            # The model may repaint the feather band too: there the result is blended with the parent.
            mask = edit_mask(plan, weight)
        upload = fit_limits(pad_to_canvas(request.image, plan), mask, self.catalogue.limits)
        files: dict[str, Any] = {"image": ("image.png", upload.image, "image/png")}
        if request.kind == RefinementType.SUBJECT:
            assert request.reference is not None
            # The reference is only looked at, never cropped back: it goes as it is (within the byte limit).
            reference = fit_limits(working_image(request.reference), None, self.catalogue.limits)
            files["image"] = [files["image"], ("reference.png", reference.image, "image/png")]
        if upload.mask is not None:
            files["mask"] = ("mask.png", upload.mask, "image/png")
        return _Prepared(plan=plan, files=files, weight=weight, scale=upload.scale)

    def _finish(self, b64: str, request: EditRequest, prepared: _Prepared) -> Image.Image:
        """The API's image at the parent's exact size and mode; outside a mask, the parent's own pixels."""
        edited = crop_back(decode_b64_image(b64), prepared.plan)
        parent = request.image
        if prepared.weight is not None:
            return _to_mode(composite(parent, edited, prepared.weight), parent.mode)
        mode = "RGBA" if "A" in parent.getbands() or "transparency" in parent.info else "RGB"
        return _to_mode(edited.convert(mode), parent.mode)

    async def edit(self, request: EditRequest) -> EditResult:
        """Apply the request and return the result at the base image's size, with usage and cost."""
        self._validate(request)
        prepared = await asyncio.to_thread(self._prepare, request)
        params = {**self.call_params(request, prepared.plan), **prepared.files}
        streaming = request.on_partial is not None and self.stream_partials
        retried: list[str] = []
        if streaming:
            stream = await call_with_retries(
                lambda: self.client.images.edit(**params, stream=True, partial_images=PARTIAL_IMAGES),
                model=self.model,
                setting=IMAGE_MODEL_SETTING,
                policy=self.retry,
                sleep=self.sleep,
                on_retry=retried.append,
            )
            b64, api_usage, partials = await self._read_stream(stream, request, prepared)
        else:
            response = await call_with_retries(
                lambda: self.client.images.edit(**params),
                model=self.model,
                setting=IMAGE_MODEL_SETTING,
                policy=self.retry,
                sleep=self.sleep,
                on_retry=retried.append,
            )
            first = response.data[0] if response.data else None
            b64, api_usage, partials = (first.b64_json if first else None), response.usage, 0
        usage = usage_from_api(api_usage, self.model, self.pricing)
        cost = self.pricing.cost(usage) if usage is not None else None
        if not b64:
            raise ProviderError("unavailable", "OpenAI returned no image; try again", spent_usd=cost, code="no_image")
        try:
            image = await asyncio.to_thread(self._finish, b64, request, prepared)
        except (binascii.Error, ValueError, OSError) as exc:
            raise ProviderError(
                "unavailable",
                "OpenAI returned an image that could not be read; try again",
                spent_usd=cost,
                code="bad_image",
            ) from exc
        notes = self._notes(request, params, prepared, usage, partials, retried)
        return EditResult(image=image, usage=usage, cost_usd=cost, notes=notes)

    async def _read_stream(self, stream: Any, request: EditRequest, prepared: _Prepared) -> tuple[str | None, Any, int]:
        """Read a streaming edit, handing each partial to on_partial; final b64, usage and partial count."""
        assert request.on_partial is not None
        partials = 0
        try:
            async with stream:
                async for event in stream:
                    if event.type == "image_edit.partial_image":
                        try:
                            partial = await asyncio.to_thread(self._finish, event.b64_json, request, prepared)
                        except (binascii.Error, ValueError, OSError):
                            # A partial is only a preview; an unreadable one must not sink the edit.
                            continue
                        partials += 1
                        await request.on_partial(partial, event.partial_image_index)
                    elif event.type == "image_edit.completed":
                        return event.b64_json, event.usage, partials
        except openai.OpenAIError as exc:
            # The stream had started: OpenAI was processing the request, so it is never sent again.
            error = to_provider_error(exc, self.model)
            if error.code == "moderation_blocked":
                raise error from exc
            raise ProviderError(
                error.kind,
                error.message if BILLED_NOTE in error.message else f"{error.message}; {BILLED_NOTE}",
                spent_usd=None,
                code=error.code,
            ) from exc
        raise ProviderError(
            "unavailable",
            f"OpenAI ended the stream before the final image arrived; {BILLED_NOTE}",
            spent_usd=None,
            code="stream_ended",
        )

    def _validate(self, request: EditRequest) -> None:
        """Raise ProviderError for a request that cannot be sent as it is."""
        if request.kind == RefinementType.PROMPT and not user_text(request):
            raise ProviderError("bad_request", "Describe the change you want before refining", code="invalid_request")
        if request.kind == RefinementType.SUBJECT and request.reference is None:
            raise ProviderError(
                "bad_request", "A subject refinement needs a reference image; upload one", code="invalid_request"
            )
        if len(build_prompt(request)) > self.catalogue.limits.max_prompt_chars:
            raise ProviderError(
                "bad_request",
                f"The edit prompt is over OpenAI's limit of "
                f"{self.catalogue.limits.max_prompt_chars:,} characters; shorten it",
                code="prompt_too_long",
            )

    def _notes(
        self,
        request: EditRequest,
        params: dict[str, Any],
        prepared: _Prepared,
        usage: Usage | None,
        partials: int,
        retried: list[str],
    ) -> str:
        """A one-line account of the call for the refinement's history."""
        creativity = max(1, min(3, int(request.creativity)))
        parts = [f"{request.kind.value.lower()} edit with {self.model} at {params['size']}", f"creativity {creativity}"]
        settings = f"quality {params.get('quality', 'auto')}"
        if "input_fidelity" in params:
            settings = f"input_fidelity {params['input_fidelity']}, " + settings
        parts.append(settings)
        if prepared.plan.padded:
            parts.append(
                f"padded {prepared.plan.parent[0]}x{prepared.plan.parent[1]} to "
                f"{prepared.plan.canvas[0]}x{prepared.plan.canvas[1]} and cropped back"
            )
        if prepared.scale < 1.0:
            parts.append(f"sent at {prepared.scale:.0%} to fit OpenAI's upload limits")
        if request.kind == RefinementType.PROMPT and request.rects:
            parts.append(
                f"masked to {len(request.rects)} region{'s' if len(request.rects) != 1 else ''}, "
                "composited with the parent"
            )
        if partials:
            parts.append(f"{partials} partial image{'s' if partials != 1 else ''} streamed")
        if retried:
            parts.append("retried: " + ", ".join(retried))
        if usage is None:
            parts.append("OpenAI reported no token usage, so the cost is unknown")
        return "; ".join(parts)
