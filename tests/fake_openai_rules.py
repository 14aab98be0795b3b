"""What the strict fake OpenAI server accepts, written from the installed SDK's docs independently of our catalogue.

Model names, shutdown dates, parameters, quality values, size rules and limits come from
openai/types/image_model.py, image_edit_params.py, image_generate_params.py and shared/chat_model.py
of the SDK (3.57). A request the real API would refuse raises BadRequest (or ModelNotFound).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image

TODAY = dt.date(2026, 12, 1)
"""The fake's "now" for shutdown dates (tests must not change behaviour with the calendar)."""

STANDARD = ((1024, 1024), (1536, 1024), (1024, 1536))
MAX_PROMPT_CHARS = 32000
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FakeModel:
    """One image model as the API treats it."""

    fidelity: tuple[str, ...]
    qualities: tuple[str, ...]
    any_size: bool
    shutdown: dt.date | None = None
    markup: bool = False


_Q = ("low", "medium", "high", "auto")
_Q25 = ("low", "medium", "high", "xhigh", "max", "auto")
IMAGE_MODELS: dict[str, FakeModel] = {
    "gpt-image-2.5-sunburst": FakeModel((), _Q25, True, markup=True),
    "gpt-image-2.5-sunburst-2026-09-08": FakeModel((), _Q25, True, markup=True),
    "gpt-image-2.5-flare": FakeModel((), _Q25, True, markup=True),
    "gpt-image-2.5-flare-2026-09-08": FakeModel((), _Q25, True, markup=True),
    # The 2.6 model pages describe markup-guided edits; the SDK names 2.5 for it.
    "gpt-image-2.6-sunburst": FakeModel((), _Q, False, markup=True),
    "gpt-image-2.6-flare": FakeModel((), _Q, False, markup=True),
    "gpt-image-2": FakeModel((), _Q, True),
    "gpt-image-2-2026-04-21": FakeModel((), _Q, True),
    "gpt-image-1.5": FakeModel(("high", "low"), _Q, False),
    "gpt-image-1-mini": FakeModel(("low",), _Q, False),
    "gpt-image-1": FakeModel(("high", "low"), _Q, False, dt.date(2026, 10, 23)),
    "dall-e-3": FakeModel((), ("standard", "hd"), False, dt.date(2026, 5, 12)),
    "dall-e-2": FakeModel((), ("standard",), False, dt.date(2026, 5, 12)),
}

CHAT_MODELS: dict[str, dt.date | None] = {
    "gpt-5.5": None,
    "gpt-5.4": None,
    "gpt-5.4-mini": None,
    "gpt-5.4-nano": dt.date(2027, 4, 1),
    "gpt-5.2": None,
    "gpt-5": dt.date(2026, 12, 11),
    "gpt-5-mini": dt.date(2026, 12, 11),
    "gpt-4.1": dt.date(2027, 1, 14),
    "gpt-4.1-mini": dt.date(2027, 1, 14),
    "gpt-4o-mini": dt.date(2027, 1, 14),
    "gpt-4o": dt.date(2027, 1, 14),
    "gpt-4.1-nano": dt.date(2026, 10, 23),
    "o4-mini": dt.date(2026, 10, 23),
    "gpt-3.5-turbo": dt.date(2026, 10, 23),
    "gpt-4": dt.date(2026, 10, 23),
}

_COMMON = {
    "background",
    "complexity",
    "frame_count",
    "frame_duration_ms",
    "model",
    "n",
    "output_compression",
    "output_format",
    "partial_images",
    "prompt",
    "quality",
    "response_format",
    "safety_identifier",
    "size",
    "stream",
    "svg",
    "user",
}
EDIT_PARAMETERS = _COMMON | {"image", "image[]", "input_fidelity", "markup", "mask"}
GENERATE_PARAMETERS = _COMMON | {"moderation", "style"}


class BadRequest(Exception):
    """A request the real API would refuse with 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value") -> None:
        """Keep the message, the offending parameter and the error code."""
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


class ModelNotFound(Exception):
    """The model does not exist (or was shut down): the real API answers 404 model_not_found."""

    def __init__(self, model: str) -> None:
        """Keep the model name for the message."""
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.")
        self.model = model


def _live(shutdown: dt.date | None) -> bool:
    """Whether a model with this shutdown date is still served on TODAY."""
    return shutdown is None or shutdown > TODAY


def image_model(name: str) -> FakeModel:
    """The served image model `name`; ModelNotFound for unknown and shut-down models."""
    model = IMAGE_MODELS.get(name)
    if model is None or not _live(model.shutdown):
        raise ModelNotFound(name)
    return model


def check_chat_model(name: str) -> None:
    """ModelNotFound unless `name` is a served chat model."""
    if name not in CHAT_MODELS or not _live(CHAT_MODELS[name]):
        raise ModelNotFound(name)


def check_known(names: set[str], allowed: set[str]) -> None:
    """400 unknown_parameter for any parameter the endpoint does not define."""
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        raise BadRequest(f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter")


def check_size(model: FakeModel, value: str | None) -> tuple[int, int] | None:
    """The requested size, None for auto; 400 for a size the model does not take."""
    if value in (None, "", "auto"):
        return None
    try:
        width, height = (int(v) for v in str(value).split("x"))
    except ValueError:
        raise BadRequest(f"Invalid size '{value}'. Use WIDTHxHEIGHT.", param="size") from None
    if not model.any_size:
        if (width, height) not in STANDARD:
            raise BadRequest(
                f"Invalid value: '{value}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
                param="size",
            )
        return width, height
    long, short = max(width, height), min(width, height)
    if width % 16 or height % 16:
        raise BadRequest(f"Invalid size '{value}': width and height must be multiples of 16.", param="size")
    if short <= 0 or long / short > 3:
        raise BadRequest(f"Invalid size '{value}': the aspect ratio must be between 1:3 and 3:1.", param="size")
    if long > 3840 or not 655_360 <= width * height <= 8_294_400:
        raise BadRequest(f"Invalid size '{value}': outside the model's pixel and edge limits.", param="size")
    return width, height


def check_options(model_name: str, model: FakeModel, first: Any, *, edit: bool) -> dict[str, Any]:
    """Checked quality, input_fidelity, output format, n and streaming options."""
    quality = str(first("quality") or "auto")
    if quality not in model.qualities:
        raise BadRequest(
            f"Invalid value: '{quality}'. Supported values are: {', '.join(model.qualities)}.", param="quality"
        )
    fidelity = first("input_fidelity")
    if fidelity is not None:
        if not edit or not model.fidelity:
            raise BadRequest(
                f"input_fidelity is not supported for model '{model_name}'.",
                param="input_fidelity",
                code="unsupported_parameter",
            )
        if fidelity not in model.fidelity:
            raise BadRequest(
                f"Invalid value: '{fidelity}'. Supported values are: {', '.join(model.fidelity)}.",
                param="input_fidelity",
            )
    if first("response_format") is not None:
        raise BadRequest(
            "response_format is not supported for GPT image models.",
            param="response_format",
            code="unsupported_parameter",
        )
    output_format = str(first("output_format") or "png")
    if output_format not in ("png", "jpeg", "webp"):
        raise BadRequest(
            f"Invalid value: '{output_format}'. Supported values are: 'png', 'jpeg', and 'webp'.", param="output_format"
        )
    check_legacy_and_background(first, output_format)
    try:
        n = int(first("n") or 1)
        partial_images = int(first("partial_images") or 0)
    except (TypeError, ValueError):
        raise BadRequest("n and partial_images must be integers.", param="n") from None
    if not 1 <= n <= 10:
        raise BadRequest(f"Invalid 'n': {n}. Must be between 1 and 10.", param="n")
    if not 0 <= partial_images <= 3:
        raise BadRequest(
            f"Invalid 'partial_images': {partial_images}. Must be between 0 and 3.", param="partial_images"
        )
    stream = str(first("stream")).lower() in ("true", "1")
    if first("partial_images") is not None and not stream:
        raise BadRequest("partial_images is only supported when stream is true.", param="partial_images")
    return {
        "quality": quality,
        "input_fidelity": fidelity,
        "output_format": output_format,
        "n": n,
        "partial_images": partial_images,
        "stream": stream,
        "background": str(first("background") or "auto"),
    }


def check_legacy_and_background(first: Any, output_format: str) -> None:
    """400 for `style` (retired DALL-E only), a moderation other than low/auto, and a background that cannot be."""
    if first("style") is not None:
        raise BadRequest(
            "style is not supported for GPT image models; describe the style in the prompt.",
            param="style",
            code="unsupported_parameter",
        )
    moderation = first("moderation")
    if moderation is not None and moderation not in ("low", "auto"):
        raise BadRequest(f"Invalid value: '{moderation}'. Supported values are: 'low' and 'auto'.", param="moderation")
    background = str(first("background") or "auto")
    if background not in ("transparent", "opaque", "auto"):
        raise BadRequest(
            f"Invalid value: '{background}'. Supported values are: 'transparent', 'opaque', and 'auto'.",
            param="background",
        )
    if background == "transparent" and output_format not in ("png", "webp"):
        raise BadRequest(
            "A transparent background needs output_format png or webp.", param="background", code="invalid_value"
        )


def check_markup(model_name: str, model: FakeModel, has_markup: bool, has_mask: bool) -> None:
    """400 for a markup image on a model that does not take one, or together with a mask."""
    if not has_markup:
        return
    if not model.markup:
        raise BadRequest(
            f"markup is not supported for model '{model_name}'.", param="markup", code="unsupported_parameter"
        )
    if has_mask:
        raise BadRequest("markup cannot be combined with mask.", param="markup", code="invalid_value")


def check_prompt(prompt: str | None) -> str:
    """The prompt; 400 when missing or over the GPT image models' limit."""
    if not prompt:
        raise BadRequest("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


# Output image tokens per quality for a 1024x1024 image; larger sizes scale with their area.
_OUTPUT_TOKENS_1MP = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320, "auto": 1056}
PARTIAL_IMAGE_TOKENS = 100


def input_image_tokens(width: int, height: int) -> int:
    """Input image tokens by the tile rule: fit in 2048², shortest side 768, 85 + 170 per 512px tile."""
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = 768 / min(width, height)
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def output_tokens(quality: str, size: tuple[int, int]) -> int:
    """Output image tokens for a quality and size."""
    return math.ceil(_OUTPUT_TOKENS_1MP.get(quality, 1056) * size[0] * size[1] / (1024 * 1024))


def auto_size(first: Image.Image | None) -> tuple[int, int]:
    """The size `auto` resolves to: the standard size nearest the first image's aspect."""
    if first is None:
        return 1024, 1024
    aspect = math.log(first.width / first.height)
    return min(STANDARD, key=lambda s: abs(math.log(s[0] / s[1]) - aspect))
