"""SUBJECT repair: the reference's subject cut out, scaled, colour-matched and blended where the old one was."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from churns_gql.imaging import Box, composite, join_alpha, pixel_boxes, split_alpha, to_bgr
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline.cutout import Cutout, cut_out, match_colour
from churns_gql.providers.offline.fill import fill
from churns_gql.providers.offline.placement import Placement, locate

# How far the cut-out's colours move towards the scene's, per unit of strength (0.2 at medium creativity).
COLOUR_MATCH = 0.2


def _fit(cutout: Cutout, box: Box) -> tuple[int, int, int, int]:
    """Where the cut-out goes in `box` keeping its aspect: as large as fits, centred, standing on its bottom."""
    h, w = cutout.alpha.shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    scale = min(bw / w, bh / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    left = box[0] + (bw - nw) // 2
    top = box[3] - nh
    return left, top, nw, nh


def _place(scene: np.ndarray, cutout: Cutout, placement: Placement, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """The scene with the old subject filled in and the cut-out blended over it; and the pixels touched."""
    height, width = scene.shape[:2]
    left, top, nw, nh = _fit(cutout, placement.box)
    interpolation = cv2.INTER_AREA if nw < cutout.alpha.shape[1] else cv2.INTER_CUBIC
    pixels = cv2.resize(cutout.bgr, (nw, nh), interpolation=interpolation)
    alpha = np.clip(cv2.resize(cutout.alpha, (nw, nh), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    layer = np.zeros((height, width), np.float32)
    layer[top : top + nh, left : left + nw] = alpha
    # The old subject goes first, with a margin for its anti-aliased outline. All of it, even what the new one
    # will cover: inpainting takes colour from the hole's rim, and an old pixel left there bleeds into the fill.
    margin = max(3, round(0.01 * max(placement.box[2] - placement.box[0], placement.box[3] - placement.box[1])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    old = cv2.dilate(placement.old.astype(np.uint8), kernel)
    hole = old > 0
    cleaned = fill(scene, hole.astype(np.uint8) * 255, radius=5)
    ring = cv2.dilate(old, kernel, iterations=3) & ~old.astype(bool)
    matched = match_colour(Cutout(pixels, alpha, cutout.how), cleaned, ring, COLOUR_MATCH * strength)
    region = cleaned[top : top + nh, left : left + nw].astype(np.float32)
    a = alpha[:, :, None]
    cleaned[top : top + nh, left : left + nw] = np.clip(matched * a + region * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    return cleaned, hole | (layer > 0)


def repair_subject(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
    """The parent with its subject replaced by the reference's, placed where the old subject stood."""
    if request.reference is None:
        raise ProviderError(
            "bad_request", "The offline engine replaces a subject with a reference image: upload a reference."
        )
    if request.reference.width == 0 or request.reference.height == 0:
        raise ProviderError("bad_request", "The reference image is empty.")
    rgb, alpha = split_alpha(request.image)
    scene = to_bgr(rgb)
    cutout = cut_out(request.reference)
    placement = locate(scene, cutout, pixel_boxes(rgb.size, request.rects))
    edited, touched = _place(scene, cutout, placement, strength)
    out = Image.fromarray(cv2.cvtColor(edited, cv2.COLOR_BGR2RGB), "RGB")
    result = composite(request.image, join_alpha(out, alpha), touched.astype(np.float32))
    l, t, r, b = placement.box
    notes = (
        f"placed the reference's subject (cut out by {cutout.how}) where {placement.how} put the old one, "
        f"{r - l}×{b - t} at ({l},{t}), colour-matched to the scene"
    )
    if (request.instructions or "").strip():
        notes += "; the instructions are not interpreted offline"
    return result, notes
