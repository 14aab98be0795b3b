"""An offline generation provider: every stage's answer derived from the inputs, images drawn with Pillow.

Nothing here is random: choices come from a SHA-256 of the inputs, so the same brief gives the same
strategies, concepts and pixels (and PNG bytes) every time. The images are real compositions at the
platform size: a gradient from the concept's palette, a subject shape (or the reference photo), and
the promotional text on a band, drawn with the offline provider's text renderer. The stages' answers
come from generation_local_answers.
"""

from __future__ import annotations

import asyncio
import re

from PIL import Image, ImageDraw, ImageFilter

from churns_gql.providers.base import GeneratedImage, ImageRequest, ProviderError, StructuredRequest, StructuredResult
from churns_gql.providers.generation_local_answers import BUILDERS, TEXT_BAND, rgb, seed, subject_box
from churns_gql.providers.offline.drawing import RGB, Box, composite_reference, text_image

_ROUND = frozenset(
    "mug cup bowl plate pizza ball coin donut doughnut cookie cake orange apple fruit watch clock burger"
    " lemon tomato planet wheel".split()
)
_TALL = frozenset(
    "bottle can glass drink tea coffee juice perfume candle vase tube phone lipstick soda beer wine"
    " shampoo serum lamp tower".split()
)
_WIDE = frozenset("car sofa shoe shoes sneaker sneakers laptop bag book box tv table bed van".split())

# -- image generation ------------------------------------------------------------------------------


def _shape_kind(subject: str) -> str:
    """Which subject shape to draw: from words in the subject, else from its hash."""
    words = set(re.findall(r"[a-z]+", subject.lower()))
    for kind, vocabulary in (("round", _ROUND), ("tall", _TALL), ("wide", _WIDE)):
        if words & vocabulary:
            return kind
    return ("round", "tall", "wide", "diamond")[seed("shape", subject) % 4]


def _darker(colour: RGB, factor: float = 0.6) -> RGB:
    """The colour scaled towards black."""
    return tuple(round(c * factor) for c in colour)  # type: ignore[return-value]


def _draw_subject(image: Image.Image, box: Box, kind: str, colour: RGB, accent: RGB) -> None:
    """Draw the subject shape with a soft shadow into `box` of the image, in place."""
    left, top, right, bottom = box
    side = right - left
    shadow = Image.new("L", image.size, 0)
    ImageDraw.Draw(shadow).ellipse(
        (left + side * 0.1, bottom - side * 0.08, right - side * 0.1, bottom + side * 0.06), fill=140
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(radius=max(2, side // 25)))
    image.paste(Image.new("RGB", image.size, _darker(colour, 0.3)), (0, 0), shadow)
    draw = ImageDraw.Draw(image)
    outline, width = _darker(colour), max(2, side // 60)
    if kind == "round":
        draw.ellipse(box, fill=colour, outline=outline, width=width)
        inset = side * 0.28
        draw.ellipse((left + inset, top + inset, right - inset, bottom - inset), fill=accent)
    elif kind == "tall":
        body: tuple[float, float, float, float] = (left + side * 0.3, top + side * 0.22, right - side * 0.3, bottom)
        draw.rounded_rectangle(body, radius=side * 0.08, fill=colour, outline=outline, width=width)
        draw.rectangle((left + side * 0.42, top, right - side * 0.42, top + side * 0.22), fill=_darker(colour))
        draw.rectangle((body[0], top + side * 0.5, body[2], top + side * 0.72), fill=accent)
    elif kind == "wide":
        body = (left, top + side * 0.3, right, bottom - side * 0.1)
        draw.rounded_rectangle(body, radius=side * 0.1, fill=colour, outline=outline, width=width)
        draw.rectangle((left + side * 0.1, top + side * 0.45, right - side * 0.1, top + side * 0.55), fill=accent)
    else:
        cx, cy = (left + right) / 2, (top + bottom) / 2
        draw.polygon([(cx, top), (right, cy), (cx, bottom), (left, cy)], fill=colour, outline=outline, width=width)
        draw.ellipse((cx - side * 0.12, cy - side * 0.12, cx + side * 0.12, cy + side * 0.12), fill=accent)


def _band(width: int, height: int, placement: str) -> Box:
    """The box of the text band for a placement."""
    band = max(1, round(TEXT_BAND * height))
    if placement == "top":
        return 0, 0, width, band
    if placement == "center":
        top = (height - band) // 2
        return 0, top, width, top + band
    return 0, height - band, width, height


def render(request: ImageRequest) -> tuple[Image.Image, str]:
    """The composition for `request` at its exact size, and a note of what was drawn."""
    width, height = request.width, request.height
    concept = request.concept
    palette = [rgb(c) for c in concept.get("color_palette") or []]
    # A concept may name fewer colours than the drawing uses; derived greys fill in.
    palette += [(230, 230, 230), (180, 180, 180), (60, 60, 60), (120, 120, 120)][len(palette) :]
    ramp = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    image = Image.composite(
        Image.new("RGB", (width, height), palette[1]), Image.new("RGB", (width, height), palette[0]), ramp
    )
    box = subject_box(width, height)
    if request.reference is not None:
        image, placed, _feather = composite_reference(image, request.reference, box, [])
        drawn = f"the reference photo at {placed[2] - placed[0]}×{placed[3] - placed[1]}"
    else:
        kind = _shape_kind(str(concept.get("main_subject") or request.prompt))
        _draw_subject(image, box, kind, palette[2], palette[3])
        drawn = f"a {kind} subject shape"
    text_spec = concept.get("promotional_text_visuals") or {}
    text = " ".join(str(text_spec.get("text") or "").split())
    if text:
        image, fits = text_image(image, _band(width, height, str(text_spec.get("placement") or "bottom")), text)
        drawn += f' and the text "{text}"' + ("" if fits else " (too long to fit fully)")
    return image.convert("RGB"), f"offline render at {width}×{height}: {drawn}"


class LocalGenerationProvider:
    """A generation provider that runs offline, costs nothing and gives the same output for the same input."""

    name = "local"

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        """The stage's answer built from its payload (and images) in a worker thread."""
        builder = BUILDERS.get(request.stage)
        if builder is None:
            raise ProviderError("bad_request", f"The offline provider has no answer for the {request.stage} stage.")
        value = await asyncio.to_thread(builder, request.payload, request.images)
        return StructuredResult(value=value)

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Render the composition at the requested size."""
        if request.width < 1 or request.height < 1:
            raise ProviderError("bad_request", "The image size must be positive.")
        image, notes = await asyncio.to_thread(render, request)
        return GeneratedImage(image=image, notes=notes)
