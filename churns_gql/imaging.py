"""Shared imaging for both providers: the rectangle type, masks, feathering, compositing and PNG encoding."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from churns_gql.geometry import Box, Rect
from churns_gql.images import encode_png

# The one rectangle type and the one PNG encoder, re-exported for the pixel helpers' callers.
__all__ = ["Box", "Rect", "encode_png"]

# Feather width as a fraction of a rectangle's shorter side: wide enough to hide the seam of a
# strong edit, narrow enough that a small box is still mostly "inside".
FEATHER_FRACTION = 0.12
# Never feather less than this many pixels (a 1 px ramp is a visible step on smooth skies).
MIN_FEATHER_PX = 2


def pixel_boxes(size: tuple[int, int], rects: Sequence[Rect]) -> list[Box]:
    """The non-empty (left, top, right, bottom) pixel boxes of `rects` inside an image of `size`."""
    width, height = size
    boxes = [rect.to_pixels(width, height) for rect in rects]
    return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]


def rect_mask(size: tuple[int, int], rects: Sequence[Rect]) -> np.ndarray:
    """A uint8 H×W mask of an image of `size` (W, H): 255 inside the union of `rects`, 0 elsewhere."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    for left, top, right, bottom in pixel_boxes(size, rects):
        mask[top:bottom, left:right] = 255
    return mask


def feather_px(box: Box) -> int:
    """The feather width for one pixel box, proportional to its shorter side."""
    shorter = min(box[2] - box[0], box[3] - box[1])
    return max(MIN_FEATHER_PX, round(shorter * FEATHER_FRACTION))


def feathered_mask(size: tuple[int, int], rects: Sequence[Rect], *, scale: float = 1.0) -> np.ndarray:
    """A float32 H×W weight in 0..1: 1 inside `rects`, falling smoothly to 0 over a band outside each.

    The band's width is proportional to each rectangle's size (times `scale`); beyond it the weight is
    exactly 0, so a composite leaves those pixels bit-identical to the parent.
    """
    width, height = size
    weight = np.zeros((height, width), np.float32)
    for box in pixel_boxes(size, rects):
        band = max(MIN_FEATHER_PX, round(feather_px(box) * scale))
        weight = np.maximum(weight, _box_falloff((width, height), box, band))
    return weight


def feather(mask: np.ndarray, band: int) -> np.ndarray:
    """A float32 0..1 weight from any uint8/bool mask: 1 inside, smooth falloff over `band` px outside, 0 beyond."""
    inside = (mask > 0).astype(np.uint8)
    if band <= 0 or not inside.any():
        return inside.astype(np.float32)
    # Distance from the mask (0 inside) gives an outward ramp of exactly `band` px; smoothstep hides its corners.
    distance = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    t = np.clip(1.0 - distance / float(band), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _box_falloff(size: tuple[int, int], box: Box, band: int) -> np.ndarray:
    """The feathered weight of one box over an image of `size`."""
    width, height = size
    inside = np.zeros((height, width), np.uint8)
    left, top, right, bottom = box
    inside[top:bottom, left:right] = 1
    return feather(inside, band)


def composite(parent: Image.Image, edited: Image.Image, weight: np.ndarray) -> Image.Image:
    """`edited` over `parent` by `weight` (0..1, H×W); where the weight is 0 the parent's pixels are kept exactly.

    The result has the parent's size and mode; `edited` is converted to the parent's mode first.
    """
    if edited.size != parent.size:
        raise ValueError(f"edited image is {edited.size}, parent is {parent.size}")
    mode = parent.mode if parent.mode in ("RGB", "RGBA", "L", "LA") else "RGBA" if has_alpha(parent) else "RGB"
    base = np.asarray(parent.convert(mode) if parent.mode != mode else parent)
    over = np.asarray(edited.convert(mode) if edited.mode != mode else edited)
    out = base.copy()
    rows, cols = np.nonzero(np.any(weight > 0, axis=1)), np.nonzero(np.any(weight > 0, axis=0))
    if rows[0].size == 0:
        return Image.fromarray(out, mode)
    # Only the weighted region's bounding box is blended: a small rectangle on a large image costs its own size.
    box = np.s_[rows[0][0] : rows[0][-1] + 1, cols[0][0] : cols[0][-1] + 1]
    w = weight[box].astype(np.float32)
    if base.ndim == 3:
        w = w[:, :, None]
    blended = base[box].astype(np.float32) * (1.0 - w) + over[box].astype(np.float32) * w
    region = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    # Blending arithmetic can round a 0-weight pixel differently; copying guarantees bit-identity there.
    untouched = weight[box] <= 0
    region[untouched] = base[box][untouched]
    out[box] = region
    return Image.fromarray(out, mode)


# OpenCV's k-means (inside GrabCut too) starts from its per-thread RNG: seeding it makes edits reproducible.
RNG_SEED = 7


def grab_cut(bgr: np.ndarray, mask: np.ndarray, rect: tuple[int, int, int, int] | None, iterations: int) -> None:
    """Run GrabCut in place on `mask`, from `rect` when given, else from the mask's own labels; seeded."""
    cv2.setRNGSeed(RNG_SEED)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    mode = cv2.GC_INIT_WITH_RECT if rect is not None else cv2.GC_INIT_WITH_MASK
    cv2.grabCut(bgr, mask, rect, bgd, fgd, iterations, mode)


def has_alpha(image: Image.Image) -> bool:
    """Whether `image` carries transparency."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The image as RGB, and its alpha channel when it has one."""
    if has_alpha(image):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    return image.convert("RGB"), None


def join_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """The RGB image with `alpha` put back, so an output keeps its input's transparency."""
    if alpha is None:
        return rgb
    out = rgb.copy()
    out.putalpha(alpha)
    return out


def to_bgr(image: Image.Image) -> np.ndarray:
    """An RGB(A) Pillow image as an OpenCV BGR uint8 array (alpha dropped)."""
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def from_bgr(array: np.ndarray) -> Image.Image:
    """An OpenCV BGR uint8 array as an RGB Pillow image."""
    return Image.fromarray(cv2.cvtColor(array, cv2.COLOR_BGR2RGB), "RGB")
