"""What the fake OpenAI server records and scripts, its error bodies and its deterministic images."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np
from PIL import Image, ImageOps

_IMAGE_MIME_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to use this model.", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it.", "model_not_found"),
    429: ("requests", "Rate limit reached for requests. Please try again in 20s.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request.", None),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    def image(self) -> Image.Image:
        """The part decoded as a Pillow image."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


@dataclass
class RecordedRequest:
    """One request the fake received: path, headers, and its parsed form or JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    fields: dict[str, list[str]] = dc_field(default_factory=dict)
    files: list[RecordedFile] = dc_field(default_factory=list)
    json: Any = None
    # The usage block the fake answered with, so tests can price exactly what was reported.
    response_usage: dict[str, Any] | None = None

    def field(self, name: str, default: str | None = None) -> str | None:
        """The first value of form field `name`, or `default`."""
        values = self.fields.get(name)
        return values[0] if values else default

    def files_named(self, name: str) -> list[RecordedFile]:
        """File parts sent as `name` or as the array form `name[]`, in order."""
        return [f for f in self.files if f.field in (name, f"{name}[]")]

    @property
    def images(self) -> list[RecordedFile]:
        """The `image` parts, in order."""
        return self.files_named("image")

    @property
    def mask(self) -> RecordedFile | None:
        """The `mask` part, if sent."""
        masks = self.files_named("mask")
        return masks[0] if masks else None


@dataclass
class _Queued:
    """A scripted answer for the next request to one path."""

    status: int
    body: Any
    headers: dict[str, str]
    stream_error: dict[str, Any] | None = None
    after_partials: int = 0
    # Seconds to wait before answering normally (a client timeout then still leaves the call billed).
    delay_s: float = 0.0


def error_body(
    status: int, message: str | None = None, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error body for `status`, with defaults like the real API's."""
    err_type, default_message, default_code = _DEFAULT_ERRORS.get(
        status, ("invalid_request_error", f"HTTP {status}", None)
    )
    return {
        "error": {
            "message": message if message is not None else default_message,
            "type": err_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def _png_b64(image: Image.Image, fmt: str = "PNG") -> str:
    """`image` encoded in `fmt` and base64."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _edited(first: Image.Image, size: tuple[int, int], mask: Image.Image | None) -> Image.Image:
    """The deterministic "edit": colours inverted where the mask is transparent (everywhere without one)."""
    base = first.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    inverted = ImageOps.invert(base)
    if mask is None:
        return inverted
    editable = (
        mask.convert("RGBA")
        .getchannel("A")
        .resize(size, Image.Resampling.NEAREST)
        .point(lambda a: 255 if a == 0 else 0)
    )
    return Image.composite(inverted, _rerendered(base), editable)


def _rerendered(image: Image.Image) -> Image.Image:
    """`image` as a model redraws it outside a mask: the same picture, each pixel off by up to 2 levels."""
    # The real API only guides the model with the mask, so nothing outside it comes back bit-identical.
    rng = np.random.default_rng(1)
    noise = rng.integers(-2, 3, (image.height, image.width, 1))
    return Image.fromarray((np.asarray(image).astype(np.int16) + noise).clip(0, 255).astype(np.uint8), "RGB")


def _generated(prompt: str, size: tuple[int, int]) -> Image.Image:
    """A deterministic image for a generation prompt: a two-colour gradient seeded by the prompt."""
    digest = hashlib.sha256(prompt.encode()).digest()
    left = Image.new("RGB", size, tuple(digest[0:3]))
    right = Image.new("RGB", size, tuple(digest[3:6]))
    ramp = Image.linear_gradient("L").resize(size)
    return Image.composite(right, left, ramp)
