"""Sizes for GPT Image edits: which `size` to ask for, and how the parent gets there and back without stretching.

The parent is padded (edges replicated) to a canvas with exactly the aspect of the requested size,
so the model sees the whole image undistorted; the result is scaled uniformly to the canvas and the
parent's box is cropped back out. A model that takes any size gets the parent's own aspect, rounded
to its multiple (a few pixels of padding at most); a fixed-size model gets the nearest of its sizes.
Inputs larger than the API's byte limits are scaled down, image and mask together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from churns_gql.imaging import encode_png, has_alpha
from churns_gql.providers.openai_catalog import AnySize, ImageModelSpec, Limits


@dataclass(frozen=True)
class SizePlan:
    """How one parent is sent: the `size` parameter, the padded canvas and where the parent sits in it."""

    request: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int]
    parent: tuple[int, int]

    @property
    def size_param(self) -> str:
        """The `size` parameter, e.g. '1216x640'."""
        return f"{self.request[0]}x{self.request[1]}"

    @property
    def padded(self) -> bool:
        """Whether the canvas is larger than the parent."""
        return self.canvas != self.parent


def _any_size(rules: AnySize, spec: ImageModelSpec, width: int, height: int) -> tuple[int, int]:
    """The allowed W×H nearest the parent's aspect, near its pixel count clamped into the model's range."""
    aspect = min(max(width / height, 1 / rules.max_aspect), rules.max_aspect)
    cap = min(rules.target_max_pixels, rules.max_pixels)
    pixels = min(max(width * height, rules.min_pixels), cap)
    w, h = math.sqrt(pixels * aspect), math.sqrt(pixels / aspect)
    shrink = min(1.0, rules.max_edge / max(w, h))
    w, h = w * shrink, h * shrink
    m = rules.multiple
    best: tuple[float, tuple[int, int]] | None = None
    # A small neighbourhood of multiples finds a much closer aspect than plain rounding (1216x640 vs 1200x624 for 1200x630).
    for cw in range(max(1, math.floor(w / m) - 3), math.ceil(w / m) + 4):
        for ch in range(max(1, math.floor(h / m) - 3), math.ceil(h / m) + 4):
            size = (cw * m, ch * m)
            if not spec.takes_size(*size) or size[0] * size[1] > cap:
                continue
            score = abs(math.log(size[0] / size[1] / aspect)) + 0.05 * abs(math.log(size[0] * size[1] / (w * h)))
            if best is None or score < best[0]:
                best = (score, size)
    if best is None:
        raise ValueError(f"no size of {spec.name} fits {width}x{height}; check its size rules")
    return best[1]


def request_size(spec: ImageModelSpec, width: int, height: int) -> tuple[int, int]:
    """The W×H to ask `spec` for, for a parent of width×height."""
    if spec.any_size is not None:
        return _any_size(spec.any_size, spec, width, height)
    aspect = math.log(width / height)
    return min(spec.fixed_sizes, key=lambda s: abs(math.log(s[0] / s[1]) - aspect))


def plan_size(spec: ImageModelSpec, parent: tuple[int, int]) -> SizePlan:
    """The size plan for a parent of size `parent` on model `spec`."""
    width, height = parent
    req_w, req_h = request_size(spec, width, height)
    if req_w * height >= req_h * width:
        canvas = (max(width, round(height * req_w / req_h)), height)
    else:
        canvas = (width, max(height, round(width * req_h / req_w)))
    offset = ((canvas[0] - width) // 2, (canvas[1] - height) // 2)
    return SizePlan(request=(req_w, req_h), canvas=canvas, offset=offset, parent=parent)


def working_image(image: Image.Image) -> Image.Image:
    """`image` as RGBA when it has transparency, else RGB."""
    mode = "RGBA" if has_alpha(image) else "RGB"
    return image if image.mode == mode else image.convert(mode)


def pad_to_canvas(image: Image.Image, plan: SizePlan) -> Image.Image:
    """The parent on the plan's canvas, its edge pixels replicated into the padding (no hard border for the model)."""
    working = working_image(image)
    if not plan.padded:
        return working
    left, top = plan.offset
    right = plan.canvas[0] - plan.parent[0] - left
    bottom = plan.canvas[1] - plan.parent[1] - top
    array = cv2.copyMakeBorder(np.asarray(working), top, bottom, left, right, cv2.BORDER_REPLICATE)
    return Image.fromarray(array, working.mode)


def crop_back(result: Image.Image, plan: SizePlan) -> Image.Image:
    """The parent's box of a result: scaled uniformly to the canvas, then cropped (never stretched)."""
    working = working_image(result)
    if working.size != plan.canvas:
        working = working.resize(plan.canvas, Image.Resampling.LANCZOS)
    left, top = plan.offset
    return working.crop((left, top, left + plan.parent[0], top + plan.parent[1]))


def edit_mask(plan: SizePlan, editable: np.ndarray) -> Image.Image:
    """The API mask on the canvas: alpha 0 where `editable` (parent-sized, >0 = may change), opaque elsewhere."""
    alpha = np.full((plan.canvas[1], plan.canvas[0]), 255, np.uint8)
    left, top = plan.offset
    alpha[top : top + plan.parent[1], left : left + plan.parent[0]][editable > 0] = 0
    mask = Image.new("RGBA", plan.canvas, (0, 0, 0, 255))
    mask.putalpha(Image.fromarray(alpha, "L"))
    return mask


@dataclass
class Upload:
    """The encoded file parts of one edit and the scale they were sent at."""

    image: bytes
    mask: bytes | None
    scale: float = 1.0


def fit_limits(canvas: Image.Image, mask: Image.Image | None, limits: Limits) -> Upload:
    """PNG bytes of canvas and mask, both scaled down together until each is under the API's byte limit."""
    scale = 1.0
    image_png = encode_png(canvas)
    mask_png = encode_png(mask, level=9) if mask is not None else None
    for _ in range(8):
        over = max(
            len(image_png) / limits.max_image_bytes,
            (len(mask_png) / limits.max_mask_bytes) if mask_png is not None else 0.0,
        )
        if over < 1.0:
            return Upload(image=image_png, mask=mask_png, scale=scale)
        # Bytes shrink roughly with pixel count; the margin avoids a second round for most images.
        scale *= 0.9 / math.sqrt(over)
        size = (max(16, round(canvas.width * scale)), max(16, round(canvas.height * scale)))
        image_png = encode_png(canvas.resize(size, Image.Resampling.LANCZOS))
        if mask is not None:
            # NEAREST keeps the mask binary (alpha 0 or 255), as the API reads it.
            mask_png = encode_png(mask.resize(size, Image.Resampling.NEAREST), level=9)
    raise ValueError("the image could not be made small enough for OpenAI's upload limits")
