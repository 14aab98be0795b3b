"""The PROMPT path: removal, then background, then tonal edits, each confined to where it belongs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from churns_gql.imaging import Rect, composite, feather, feather_px, join_alpha, pixel_boxes, split_alpha
from churns_gql.offline_rules.intents import PromptPlan
from churns_gql.providers.offline.background import change_background
from churns_gql.providers.offline.inpaint import remove
from churns_gql.providers.offline.tone import apply_edits

TONAL_FEATHER = 2.0
"""Feather of a regional tonal edit, in multiples of the shared default: a colour shift on a smooth sky needs a long ramp."""


def _removal_note(target: str, share: float, method: str) -> str:
    """What the removal did, for the notes."""
    what = f"the {target}" if target else "the selection"
    if share >= 1.0:
        return f"removed {what}: painted the selected area over ({method})"
    return (
        f"removed {what}: painted over the {round(share * 100)}% of the selected area that stood out from its "
        f"background ({method})"
    )


def region_weight(size: tuple[int, int], rects: Sequence[Rect]) -> np.ndarray:
    """A float32 weight for a regional tonal edit: a smooth ramp centred on each rectangle's edge.

    The ramp runs half inside, half outside, so the edit fades in rather than starting at full
    strength on the border; beyond half a band outside the rectangle the weight is exactly 0.
    """
    width, height = size
    weight = np.zeros((height, width), np.float32)
    for left, top, right, bottom in pixel_boxes(size, rects):
        band = max(2, round(feather_px((left, top, right, bottom)) * TONAL_FEATHER))
        inset = min(band // 2, (right - left - 1) // 2, (bottom - top - 1) // 2)
        core = np.zeros((height, width), np.uint8)
        core[top + inset : bottom - inset, left + inset : right - inset] = 1
        weight = np.maximum(weight, feather(core, band))
    return weight


def _edit_region(image: Image.Image, rects: Sequence[Rect], plan: PromptPlan, strength: float) -> Image.Image:
    """The image with the tonal edits applied under the rectangles' feathered mask, working on its bounding crop."""
    weight = region_weight(image.size, rects)
    rows, cols = np.flatnonzero(weight.any(axis=1)), np.flatnonzero(weight.any(axis=0))
    # Blur and sharpen read a few pixels beyond what they change, so the crop keeps some context.
    pad = max(8, round(0.02 * max(image.size)))
    top, bottom = max(0, rows[0] - pad), min(image.height, rows[-1] + 1 + pad)
    left, right = max(0, cols[0] - pad), min(image.width, cols[-1] + 1 + pad)
    box = (left, top, right, bottom)
    part = image.crop(box)
    edited = Image.fromarray(apply_edits(np.asarray(part), plan.edits, strength), "RGB")
    out = image.copy()
    out.paste(composite(part, edited, weight[top:bottom, left:right]), box[:2])
    return out


def edit_prompt(
    image: Image.Image, rects: Sequence[Rect], plan: PromptPlan, strength: float, *, preview: bool = False
) -> tuple[Image.Image, str]:
    """The image with the plan applied, and notes saying what was done and what was ignored.

    Removal paints over the rectangles; a background change treats them as the subject (or assumes a
    centred subject) and changes only what is outside it; tonal edits apply inside the rectangles
    with a feathered edge, or to the whole image when there are none. Outside every changed region
    and its feather band the result is bit-identical to the input. A `preview` removal fills smoothly
    instead of quilting (see inpaint.remove).
    """
    parent, alpha = split_alpha(image)
    boxes = pixel_boxes(parent.size, rects)
    current = parent
    done: list[str] = []
    if plan.removal is not None and boxes:
        filled, _, share, method = remove(np.asarray(current), boxes, strength, quick=preview)
        current = Image.fromarray(filled, "RGB")
        done.append(_removal_note(plan.removal, share, method))
    if plan.background is not None:
        edited, weight, where = change_background(np.asarray(current), boxes, plan.background, strength)
        current = composite(current, Image.fromarray(edited, "RGB"), weight)
        done.append(f"{plan.background.describe()} around the subject found by GrabCut in {where}")
    if plan.edits:
        if boxes:
            current = _edit_region(current, rects, plan, strength)
        else:
            current = Image.fromarray(apply_edits(np.asarray(current), plan.edits, strength), "RGB")
        where = " to the selected area" if boxes else ""
        done.append(f"applied{where}: {', '.join(str(e) for e in plan.edits)}")
    notes = "; ".join(done)
    if plan.ignored:
        notes += f"; ignored: {', '.join(plan.ignored)}"
    return join_alpha(current, alpha), notes
