"""The previous TEXT and SUBJECT repairs, used only until offline/text.py and offline/subject.py exist."""

from __future__ import annotations

from PIL import Image, ImageEnhance, ImageFilter

from churns_gql.imaging import Box, join_alpha, pixel_boxes, split_alpha
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline.drawing import boxes_mask, composite_reference, text_image
from churns_gql.providers.offline.intents import quoted_text


def _fmt_box(box: Box) -> str:
    """A pixel box as "W×H at (x,y)" for notes."""
    return f"{box[2] - box[0]}×{box[3] - box[1]} at ({box[0]},{box[1]})"


def repair_text(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
    """Re-render the intended text on a band in the selected area or along the bottom."""
    text = quoted_text(request.instructions)
    source = "the instructions"
    if text is None and request.concept.intended_text and request.concept.intended_text.strip():
        text = " ".join(request.concept.intended_text.split())
        source = "the image's concept"
    if text is None:
        raise ProviderError(
            "bad_request",
            "Which text to render is unknown: this image's concept has none. "
            "Put the text in quotes in the instructions, e.g. text: \"SALE 50%\".",
        )
    width, height = request.image.size
    boxes = pixel_boxes((width, height), request.rects)
    if boxes:
        # The largest selection holds the band whole, so no pixel outside the selection changes.
        box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        where = f"in the selected area {_fmt_box(box)}"
    else:
        box = (0, height - max(1, round(0.18 * height)), width, height)
        where = "at the bottom"
    image, fits = text_image(request.image, box, text)
    overflow = "; too long to fit fully even at the smallest size" if not fits else ""
    return image, f're-rendered text "{text}" (from {source}) on a band {where}{overflow}'


def _centre_box(size: tuple[int, int]) -> Box:
    """A centred square half the image's shorter side across."""
    width, height = size
    side = max(1, round(0.5 * min(width, height)))
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _emphasise(base: Image.Image, region: Box, clip: list[Box], strength: float) -> tuple[Image.Image, int]:
    """The base with the region sharpened, given more contrast and lifted; and the feather used."""
    rgb, alpha = split_alpha(base)
    radius = max(1.0, min(rgb.size) * 0.003)
    adjusted = rgb.filter(ImageFilter.UnsharpMask(radius=radius, percent=round(96 * strength), threshold=2))
    adjusted = ImageEnhance.Contrast(adjusted).enhance(1 + 0.15 * strength)
    gamma = 1 / (1 + 0.12 * strength)
    adjusted = adjusted.point([max(0, min(255, round(255 * (v / 255) ** gamma))) for v in range(256)] * 3)
    feather = max(1, round(0.04 * min(region[2] - region[0], region[3] - region[1])))
    mask = boxes_mask(rgb.size, clip or [region], feather)
    return join_alpha(Image.composite(adjusted, rgb, mask), alpha), feather


def repair_subject(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
    """Composite the reference into the region, or emphasise the region when there is none."""
    boxes = pixel_boxes(request.image.size, request.rects)
    region = (
        (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        if boxes else _centre_box(request.image.size)
    )
    instructions = (request.instructions or "").strip()
    unread = "; instructions are not interpreted offline" if instructions else ""
    if request.reference is not None:
        if request.reference.width == 0 or request.reference.height == 0:
            raise ProviderError("bad_request", "The reference image is empty.")
        image, placed, feather = composite_reference(request.image, request.reference, region, boxes)
        return image, f"composited the reference into region {_fmt_box(placed)} with a {feather}px feather{unread}"
    if not instructions:
        raise ProviderError("bad_request", "A subject edit needs a reference image or instructions.")
    image, feather = _emphasise(request.image, region, boxes, strength)
    return image, (
        f"no reference image: sharpened and lifted the subject region {_fmt_box(region)} "
        f"with a {feather}px feather{unread}"
    )
