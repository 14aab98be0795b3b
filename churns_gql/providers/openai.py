"""Refinement edits through OpenAI's image edit endpoint (GPT Image models).

Every refinement is one `images.edit` call: the base image (PNG) first, for SUBJECT the reference
image second, for PROMPT with regions a mask whose transparent pixels mark where to edit. The
result comes back at one of the standard sizes and is resized to the base image's exact size and
mode, and its cost is computed from the token usage OpenAI reports and configs/pricing.yml.

Creativity 1..3 maps onto the call like this:

    creativity    input_fidelity  quality  prompt wording
    1 precise     high            high     "Change only what is asked and preserve everything else
                                            exactly" (TEXT: match the existing typography exactly)
    2 balanced    high            medium   "Make the requested change; keep composition, subject,
                                            style and text recognisably the same" (TEXT: stay close
                                            to the existing typography)
    3 creative    low             high     "Feel free to reinterpret the image to fulfil the
                                            request" (TEXT: feel free to restyle the lettering)

input_fidelity is sent only to models that accept both values (gpt-image-1 and gpt-image-1.5);
others reject `high` or the parameter itself, so for them it is left out. TEXT refinements always
ask for everything but the text to stay identical, whatever the creativity.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

import openai
from PIL import Image

from churns_gql.config import Settings
from churns_gql.providers.base import EditRequest, EditResult, ProviderError, Rect, Usage
from churns_gql.providers.pricing import Pricing, load_pricing, require_prices

SUPPORTED_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
"""Output sizes every GPT Image model accepts, as (width, height)."""

PARTIAL_IMAGES = 2
"""How many partial images to ask for when streaming (the API allows 0..3)."""

DEFAULT_TIMEOUT_S = 300.0
"""Per-request timeout; high-quality edits of large images can take a couple of minutes."""

DEFAULT_MAX_RETRIES = 2

_BILLED_CATEGORIES = ("text_input", "image_input", "image_output")
_MAX_MESSAGE_CHARS = 300
_CONTENT_POLICY_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
_CONTENT_POLICY_PHRASES = ("safety system", "content policy", "moderation")


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


def accepts_input_fidelity(model: str) -> bool:
    """Whether `model` takes input_fidelity high and low (gpt-image-1 and its snapshots, gpt-image-1.5)."""
    name = model.lower()
    if name.startswith("gpt-image-1-mini"):
        return False
    return name == "gpt-image-1" or name.startswith("gpt-image-1-20") or name.startswith("gpt-image-1.5")


def choose_size(width: int, height: int) -> tuple[int, int]:
    """The supported output size whose aspect ratio is nearest width:height."""
    aspect = math.log(width / height)
    return min(SUPPORTED_SIZES, key=lambda size: abs(math.log(size[0] / size[1]) - aspect))


def build_edit_mask(size: tuple[int, int], rects: list[Rect]) -> bytes:
    """An RGBA PNG of `size`, opaque everywhere but alpha 0 inside `rects` (where OpenAI edits)."""
    width, height = size
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    for rect in rects:
        left, top, right, bottom = rect.to_pixels(width, height)
        if right > left and bottom > top:
            mask.paste((0, 0, 0, 0), (left, top, right, bottom))
    return _png_bytes(mask)


def _has_alpha(image: Image.Image) -> bool:
    """Whether `image` carries transparency."""
    return "A" in image.getbands() or "transparency" in image.info


def _working_mode(image: Image.Image) -> str:
    """RGBA for images with transparency, else RGB."""
    return "RGBA" if _has_alpha(image) else "RGB"


def _png_bytes(image: Image.Image) -> bytes:
    """`image` encoded as PNG."""
    buffer = io.BytesIO()
    # Level 3 keeps uploads well under the API's limits while encoding several times faster than 9.
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _as_png(image: Image.Image) -> bytes:
    """`image` as PNG bytes in RGB or RGBA, the modes the API reads reliably."""
    mode = _working_mode(image)
    return _png_bytes(image if image.mode == mode else image.convert(mode))


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


def fit_to_base(image: Image.Image, base: Image.Image) -> Image.Image:
    """`image` resized (LANCZOS) to the base image's exact size and converted to its mode."""
    working = image.convert(_working_mode(base))
    if working.size != base.size:
        working = working.resize(base.size, Image.Resampling.LANCZOS)
    return _to_mode(working, base.mode)


def _decode_b64_image(b64: str) -> Image.Image:
    """A fully loaded image from base64 data; raises on invalid data."""
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


def _decode_to_base(b64: str, base: Image.Image) -> Image.Image:
    """Decode base64 image data and fit it to the base image."""
    return fit_to_base(_decode_b64_image(b64), base)


def _clean(text: str | None) -> str:
    """`text` with runs of whitespace collapsed and ends stripped."""
    return " ".join((text or "").split())


def _user_text(request: EditRequest) -> str:
    """What the user asked for: the prompt and instructions, each once."""
    parts: list[str] = []
    for text in (request.prompt, request.instructions):
        cleaned = _clean(text)
        if cleaned and cleaned not in parts:
            parts.append(cleaned)
    return " ".join(parts)


def build_prompt(request: EditRequest) -> str:
    """The edit prompt for `request`: the user's words, the concept, and the creativity wording."""
    style = creativity_style(request.creativity)
    asked = _user_text(request)
    concept = request.concept
    lines: list[str] = []
    if request.kind == "PROMPT":
        lines.append(f"Edit this image: {asked}")
        if request.rects:
            regions = "region" if len(request.rects) == 1 else f"{len(request.rects)} regions"
            lines.append(
                f"Apply the change only inside the masked {regions} (the transparent area of the mask); "
                "leave everything outside it unchanged."
            )
        lines.append(style.wording)
    elif request.kind == "SUBJECT":
        current = _clean(concept.main_subject)
        lines.append(
            "Replace the main subject of the first image with the subject shown in the second image "
            "(the reference)."
            + (f" The current main subject is: {current}." if current else "")
        )
        if asked:
            lines.append(f"Instructions: {asked}")
        if _clean(concept.visual_style):
            lines.append(f"Keep the image's visual style: {_clean(concept.visual_style)}.")
        lines.append(
            "Match the scene's lighting, perspective, scale and colour grading so the new subject "
            "looks like it was photographed there; keep the reference subject's identity and details."
        )
        lines.append(style.wording)
    else:
        lines.append("Correct the text in this image.")
        if asked:
            lines.append(f"Instructions: {asked}")
        intended = _clean(concept.intended_text)
        if intended:
            lines.append(f'The text should read exactly: "{intended}". Spell it exactly like that.')
        lines.append("Render the text crisp and legible. " + style.text_wording)
        lines.append("Keep everything else in the image identical: only the text may change.")
    return "\n".join(lines)


def _trim(text: str) -> str:
    """`text` on one line, cut to a length fit for a user-facing message."""
    text = _clean(text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return text


def _api_message(exc: openai.APIError) -> str:
    """The API's own message for `exc`, trimmed, or "" when it sent none worth showing."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return _trim(body["message"])
    # Without a JSON body the SDK's message is just "Error code: N", and the raw body may be HTML.
    return ""


def _is_content_policy(exc: openai.APIError) -> bool:
    """Whether `exc` says the safety system refused the request."""
    if (exc.code or "") in _CONTENT_POLICY_CODES:
        return True
    message = _api_message(exc).lower()
    return any(phrase in message for phrase in _CONTENT_POLICY_PHRASES)


def to_provider_error(exc: openai.OpenAIError, model: str) -> ProviderError:
    """A ProviderError with a message the user can act on, for an OpenAI SDK error."""
    detail = _api_message(exc) if isinstance(exc, openai.APIError) else ""
    suffix = f" ({detail})" if detail else ""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", "OpenAI took too long to answer; try again")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("unavailable", "Could not reach OpenAI; check the network or OPENAI_BASE_URL and try again")
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return ProviderError("rate_limit", "The OpenAI account is out of quota; check its plan and billing")
        return ProviderError("rate_limit", "OpenAI rate limit reached; try again in a minute")
    if isinstance(exc, openai.AuthenticationError):
        return ProviderError("auth", "OpenAI rejected the API key; check OPENAI_API_KEY")
    if isinstance(exc, openai.PermissionDeniedError):
        # 403 also means "organization must be verified to use this model", so pass the reason on.
        return ProviderError("auth", f"OpenAI denied access to {model}; check OPENAI_API_KEY and the account's access{suffix}")
    if isinstance(exc, openai.APIError) and _is_content_policy(exc):
        return ProviderError(
            "content_policy",
            "OpenAI's safety system blocked this edit; rephrase the request or use a different image",
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return ProviderError("unavailable", f"OpenAI is having trouble (HTTP {exc.status_code}); try again shortly")
        if exc.status_code == 404:
            return ProviderError("bad_request", f"OpenAI does not offer {model} to this account; check CHURNS_OPENAI_IMAGE_MODEL{suffix}")
        return ProviderError("bad_request", f"OpenAI rejected the edit request{suffix or f' (HTTP {exc.status_code})'}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError("unavailable", "OpenAI answered in an unexpected format; try again")
    if isinstance(exc, openai.APIError):
        # Errors reported inside an event stream carry no HTTP status.
        return ProviderError("unavailable", f"OpenAI reported an error while editing; try again{suffix}")
    return ProviderError("unavailable", "The OpenAI request failed; try again")


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


@dataclass
class _Inputs:
    """The file parts of one edit call."""

    image: Any
    mask: tuple[str, bytes, str] | None


def _encode_inputs(request: EditRequest) -> _Inputs:
    """The multipart file parts for `request`: image(s) as PNG and the mask, if any."""
    base = ("image.png", _as_png(request.image), "image/png")
    if request.kind == "SUBJECT":
        assert request.reference is not None
        reference = ("reference.png", _as_png(request.reference), "image/png")
        return _Inputs(image=[base, reference], mask=None)
    mask = None
    if request.kind == "PROMPT" and request.rects:
        mask = ("mask.png", build_edit_mask(request.image.size, request.rects), "image/png")
    return _Inputs(image=base, mask=mask)


def _validate(request: EditRequest) -> None:
    """Raise ProviderError for a request that cannot be sent as it is."""
    if request.kind == "PROMPT" and not _user_text(request):
        raise ProviderError("bad_request", "Describe the change you want before refining")
    if request.kind == "SUBJECT" and request.reference is None:
        raise ProviderError("bad_request", "A subject refinement needs a reference image; upload one")
    if request.kind not in ("PROMPT", "SUBJECT", "TEXT"):
        raise ProviderError("bad_request", f"Unknown refinement kind {request.kind!r}")


class OpenAIImageEditor:
    """An ImageEditor that refines images with OpenAI's GPT Image edit endpoint."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        pricing: Pricing,
        stream_partials: bool = True,
    ) -> None:
        """Use `client` and `model`; raises UnknownModelPrice or MissingTokenPrice now if `pricing` cannot cost it."""
        require_prices(pricing, model, _BILLED_CATEGORIES)
        self.client = client
        self.model = model
        self.pricing = pricing
        self.stream_partials = stream_partials

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        stream_partials: bool = True,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> OpenAIImageEditor:
        """An editor for the configured key, base URL and model, priced from configs_dir/pricing.yml."""
        if not settings.openai_api_key:
            raise ProviderError("auth", "OPENAI_API_KEY is not set; set it to use the OpenAI provider")
        pricing = load_pricing(settings.configs_dir / "pricing.yml")
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            max_retries=max_retries,
            timeout=openai.Timeout(timeout_s, connect=10.0),
        )
        return cls(client, settings.openai_image_model, pricing, stream_partials=stream_partials)

    def call_params(self, request: EditRequest) -> dict[str, Any]:
        """The images.edit keyword arguments for `request`, without the image and mask files."""
        style = creativity_style(request.creativity)
        width, height = choose_size(*request.image.size)
        params: dict[str, Any] = {
            "model": self.model,
            "prompt": build_prompt(request),
            "n": 1,
            "size": f"{width}x{height}",
            "quality": style.quality,
            "output_format": "png",
        }
        if accepts_input_fidelity(self.model):
            params["input_fidelity"] = style.input_fidelity
        return params

    async def edit(self, request: EditRequest) -> EditResult:
        """Apply the request and return the result at the base image's size, with usage and cost."""
        _validate(request)
        params = self.call_params(request)
        inputs = await asyncio.to_thread(_encode_inputs, request)
        params["image"] = inputs.image
        if inputs.mask is not None:
            params["mask"] = inputs.mask
        streaming = request.on_partial is not None and self.stream_partials
        try:
            if streaming:
                b64, api_usage, partials = await self._edit_streaming(params, request)
            else:
                response = await self.client.images.edit(**params)
                first = response.data[0] if response.data else None
                b64, api_usage, partials = (first.b64_json if first else None), response.usage, 0
        except openai.OpenAIError as exc:
            raise to_provider_error(exc, self.model) from exc
        if not b64:
            raise ProviderError("unavailable", "OpenAI returned no image; try again")
        try:
            image = await asyncio.to_thread(_decode_to_base, b64, request.image)
        except (binascii.Error, ValueError, OSError) as exc:
            raise ProviderError("unavailable", "OpenAI returned an image that could not be read; try again") from exc
        usage = usage_from_api(api_usage, self.model, self.pricing)
        cost = self.pricing.cost(usage) if usage is not None else 0.0
        return EditResult(image=image, usage=usage, cost_usd=cost, notes=self._notes(request, params, usage, partials))

    async def _edit_streaming(self, params: dict[str, Any], request: EditRequest) -> tuple[str | None, Any, int]:
        """Run a streaming edit, handing each partial image to on_partial; returns final b64, usage, partial count."""
        assert request.on_partial is not None
        stream = await self.client.images.edit(**params, stream=True, partial_images=PARTIAL_IMAGES)
        partials = 0
        async with stream:
            async for event in stream:
                if event.type == "image_edit.partial_image":
                    try:
                        partial = await asyncio.to_thread(_decode_to_base, event.b64_json, request.image)
                    except (binascii.Error, ValueError, OSError):
                        # A partial is only a preview; an unreadable one must not sink the edit.
                        continue
                    partials += 1
                    await request.on_partial(partial, event.partial_image_index)
                elif event.type == "image_edit.completed":
                    return event.b64_json, event.usage, partials
        raise ProviderError("unavailable", "OpenAI ended the stream before the final image arrived; try again")

    def _notes(self, request: EditRequest, params: dict[str, Any], usage: Usage | None, partials: int) -> str:
        """A one-line account of the call for the refinement's history."""
        creativity = max(1, min(3, int(request.creativity)))
        parts = [f"{request.kind.lower()} edit with {self.model} at {params['size']}", f"creativity {creativity}"]
        settings = f"quality {params['quality']}"
        if "input_fidelity" in params:
            settings = f"input_fidelity {params['input_fidelity']}, " + settings
        parts.append(settings)
        if request.kind == "PROMPT" and request.rects:
            parts.append(f"masked to {len(request.rects)} region{'s' if len(request.rects) != 1 else ''}")
        if partials:
            parts.append(f"{partials} partial image{'s' if partials != 1 else ''} streamed")
        if usage is None:
            parts.append("OpenAI reported no token usage, so the cost is unknown")
        return "; ".join(parts)
