"""Request checks of the fake OpenAI server's image endpoints, and the usage it reports."""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

from tests import fake_openai_rules as rules
from tests.fake_openai_records import _IMAGE_MIME_TYPES, RecordedFile, RecordedRequest
from tests.fake_openai_rules import BadRequest


def edit_params(recorded: RecordedRequest) -> dict[str, Any]:
    """The checked parameters of an edit request, raising BadRequest as the real API would."""
    rules.check_known(set(recorded.fields) | {f.field for f in recorded.files}, rules.EDIT_PARAMETERS)
    model = recorded.field("model")
    if not model:
        raise BadRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    rules.check_markup(model, rules.image_model(model), bool(recorded.files_named("markup")), recorded.mask is not None)
    prompt = rules.check_prompt(recorded.field("prompt"))
    for part in recorded.files:
        limit = rules.MAX_MASK_BYTES if part.field == "mask" else rules.MAX_IMAGE_BYTES
        if len(part.data) >= limit:
            raise BadRequest(
                f"Invalid {part.field}: the file is {len(part.data)} bytes; it must be under {limit} bytes.",
                param=part.field.rstrip("[]"),
                code="file_too_large",
            )
    parts = recorded.images
    if not parts:
        raise BadRequest("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    if len(parts) > 16:
        raise BadRequest("Too many images: at most 16 may be given.", param="image")
    images = [checked_image(part, f"image {i + 1}") for i, part in enumerate(parts)]
    mask = None
    if recorded.mask is not None:
        mask_part = recorded.mask
        if mask_part.content_type != "image/png":
            raise BadRequest(
                "Invalid mask image format - mask must be a PNG.", param="mask", code="invalid_image_format"
            )
        mask = checked_image(mask_part, "mask")
        if mask.format != "PNG":
            raise BadRequest(
                "Invalid mask image format - mask must be a PNG.", param="mask", code="invalid_image_format"
            )
        if "A" not in mask.getbands():
            raise BadRequest(
                "Invalid mask image format - mask image missing alpha channel.",
                param="mask",
                code="invalid_image_format",
            )
        if mask.size != images[0].size:
            raise BadRequest(
                f"Invalid mask image size - mask {mask.size[0]}x{mask.size[1]} does not match image "
                f"{images[0].size[0]}x{images[0].size[1]}.",
                param="mask",
                code="invalid_image_dimensions",
            )
    return common_params(recorded.fields, model, prompt, images, mask)


def checked_image(part: RecordedFile, label: str) -> Image.Image:
    """The decoded image of `part`, refusing bad types or data as the real API does."""
    param = "mask" if label == "mask" else "image"
    if part.content_type not in _IMAGE_MIME_TYPES:
        raise BadRequest(
            f"Invalid file '{param}': unsupported mimetype ('{part.content_type}'). "
            "Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            param=param,
            code="unsupported_file_mimetype",
        )
    try:
        image = part.image()
    except Exception:
        raise BadRequest(
            f"Invalid image file or mode for {label}, please check your image file.",
            param=param,
            code="invalid_image_file",
        ) from None
    if image.format != _IMAGE_MIME_TYPES[part.content_type]:
        raise BadRequest(
            f"The {label} is {image.format} but was sent as {part.content_type}.",
            param=param,
            code="invalid_image_file",
        )
    return image


def common_params(
    values: dict[str, Any], model: str, prompt: str, images: list[Image.Image], mask: Image.Image | None
) -> dict[str, Any]:
    """Checked model, prompt, size, quality, format and streaming options shared by edits and generations."""

    def first(name: str) -> Any:
        """The first value of `name`, whether form fields (lists) or JSON (scalars)."""
        value = values.get(name)
        return value[0] if isinstance(value, list) and value else value

    spec = rules.image_model(model)
    options = rules.check_options(model, spec, first, edit=bool(images))
    size = rules.check_size(spec, first("size")) or rules.auto_size(images[0] if images else None)
    return {"model": model, "prompt": prompt, "images": images, "mask": mask, "size": size, **options}


def usage(params: dict[str, Any], with_output_details: bool) -> dict[str, Any]:
    """A usage block for the call, priced the way GPT Image models count tokens."""
    text_tokens = max(1, math.ceil(len(params["prompt"]) / 4))
    image_tokens = sum(rules.input_image_tokens(*img.size) for img in params["images"])
    output_tokens = rules.output_tokens(params["quality"], params["size"]) * params["n"]
    output_tokens += rules.PARTIAL_IMAGE_TOKENS * (params["partial_images"] if params["stream"] else 0)
    usage: dict[str, Any] = {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output_tokens,
        "total_tokens": text_tokens + image_tokens + output_tokens,
    }
    if with_output_details:
        usage["output_tokens_details"] = {"image_tokens": output_tokens, "text_tokens": 0}
    return usage
