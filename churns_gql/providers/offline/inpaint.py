"""Removal: what lies inside the selected rectangles is painted over with the background around it.

The fill is computed coarse-to-fine: cv2.inpaint (Navier-Stokes) runs on a copy scaled so the hole is
about FILL_SIDE pixels across, where it continues the surrounding colours and edges smoothly; the
upscaled fill then replaces the hole and gets a grain matched to the surrounding texture, because a
grain-free patch in a photo reads as a smudge. Inside each rectangle only what differs from the
predicted background is replaced, so a loose selection keeps its real background. Where the surround has
structure a smooth fill would smear (bricks, foliage, weave), the hole is quilted from nearby patches instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from churns_gql.imaging import Box, feather_px
from churns_gql.providers.offline.quilt import quilt

FILL_SIDE = 96
"""Hole size (px) the inpaint runs at: of 32, 48, 96 and full size, 96 measured best (mean PSNR over test scenes)."""
METHOD = cv2.INPAINT_NS
"""Navier-Stokes: 40.4 dB vs Telea 39.8 (logo over texture), 26.5 vs 26.5 (across a horizon); at full size Telea drops to 21."""
_GRAIN_SEED = 12
STRUCTURE_QUILT = 1.5
"""Mid-scale detail (mean |DoG 1.5-6 px| of grey levels) around the hole above which patches are quilted in:
bricks 19, wood grain 3.9, grass 1.9 carry structure a smooth fill smears; a graded sky 0.3 and fine-grained
ground 0.9 are continued best by diffusion."""


def _coarse_fill(rgb: np.ndarray, hole: np.ndarray, method: int = METHOD, side: int = FILL_SIDE) -> np.ndarray:
    """The image with `hole` (uint8, 255 = fill) inpainted at a scale where the hole is ~`side` px, upscaled."""
    height, width = hole.shape
    ys, xs = np.nonzero(hole)
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    factor = min(1.0, side / extent)
    if factor >= 1.0:
        return cv2.inpaint(rgb, hole, 3, method)
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # Any hole pixel in a coarse cell makes the cell unknown, so no object colour leaks into the fill.
    small_hole = (cv2.resize(hole, size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 3, method)
    return cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)


def _ring(hole: np.ndarray, width: int) -> np.ndarray:
    """The band of known pixels up to `width` px outside the hole."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(hole, kernel) > 0) & (hole == 0)


def _grain(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A float32 noise field whose strength follows the surrounding fine texture (deterministic).

    The local texture strength is itself filled into the hole like the colours are, so a hole that
    spans smooth sky and grainy ground gets smooth sky and grainy ground.
    """
    detail = rgb.astype(np.float32) - cv2.GaussianBlur(rgb, (0, 0), 1.5).astype(np.float32)
    # Averaged over known pixels only: the object's own edges must not read as texture around it.
    known = (cv2.dilate(hole, np.ones((7, 7), np.uint8)) == 0).astype(np.float32)
    energy = cv2.GaussianBlur(detail * detail * known[..., None], (0, 0), 3.0)
    energy /= np.maximum(cv2.GaussianBlur(known, (0, 0), 3.0), 1e-3)[..., None]
    # Stored as 4 × std in 8 bits, which cv2.inpaint needs; textures stronger than std 63 are clipped.
    strength = np.clip(np.sqrt(energy) * 4.0 + 0.5, 0, 255).astype(np.uint8)
    # Capped at the typical texture around the hole, so one bright edge nearby cannot fill it with sparkle.
    ring = _ring(hole, 12)
    cap = np.median(strength[ring], axis=0) if ring.any() else np.full(3, 255.0)
    # Noise stands in for texture it cannot reproduce (lines, weave), so it is kept below the real strength.
    cap = cap * 0.7
    strength = np.minimum(_coarse_fill(strength, hole).astype(np.float32), cap.astype(np.float32)) / 4.0
    # One noise field for all three channels: photographic grain is mostly in lightness, and
    # independent per-channel noise shows as coloured speckles.
    noise = np.random.default_rng(_GRAIN_SEED).standard_normal(rgb.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.8)
    noise /= max(1e-6, float(noise.std()))
    return noise[..., None] * strength


def _object_mask(
    rgb: np.ndarray, predicted: np.ndarray, box_hole: np.ndarray, margin: int, ring: np.ndarray
) -> np.ndarray:
    """Where inside the boxes the image differs from the predicted background, grown by `margin` px."""
    diff = cv2.GaussianBlur(np.abs(rgb.astype(np.int16) - predicted.astype(np.int16)).astype(np.float32), (0, 0), 1.5)
    deviation = diff.max(axis=2)
    detail = rgb.astype(np.float32) - cv2.GaussianBlur(rgb, (0, 0), 3.0).astype(np.float32)
    texture = float(np.abs(detail[ring]).max(axis=1).mean()) if ring.any() else 0.0
    differs = ((deviation > max(14.0, 3.0 * texture)) & (box_hole > 0)).astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    # A small closing joins an object's strokes into one shape without swallowing the gaps between things.
    closed = cv2.morphologyEx(differs, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return cv2.bitwise_and(cv2.dilate(closed, kernel), box_hole)


def structure(rgb: np.ndarray, ring: np.ndarray) -> float:
    """How much mid-scale structure (edges, weave, blades) the pixels of `ring` carry: the mean absolute
    difference of two blurs of the grey image, which ignores fine grain and smooth shading alike."""
    if not ring.any():
        return 0.0
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    band = cv2.GaussianBlur(grey, (0, 0), 1.5) - cv2.GaussianBlur(grey, (0, 0), 6.0)
    return float(np.abs(band[ring]).mean())


def _paint_over(
    rgb: np.ndarray, boxes: Sequence[Box], strength: float, quick: bool
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """remove() on an array that holds the boxes and enough of their surroundings."""
    height, width = rgb.shape[:2]
    box_hole = np.zeros((height, width), np.uint8)
    # Nothing may change beyond each box's feather band, the promise every regional edit keeps.
    allowed = np.zeros((height, width), np.float32)
    margin = 1
    for box in boxes:
        left, top, right, bottom = box
        band = feather_px(box)
        # A small margin catches anti-aliased or glowing edges; a wide one would reach neighbouring things.
        grow = max(1, min(band - 1, round(min(right - left, bottom - top) * 0.02 * strength)))
        margin = max(margin, grow)
        box_hole[max(0, top - grow) : bottom + grow, max(0, left - grow) : right + grow] = 255
        allowed[max(0, top - band) : bottom + band, max(0, left - band) : right + band] = 1.0
    ring = _ring(box_hole, max(3, margin * 2))
    predicted = _coarse_fill(rgb, box_hole)
    hole = _object_mask(rgb, predicted, box_hole, margin, ring)
    share = float((hole > 0).sum()) / max(1, int((box_hole > 0).sum()))
    if share > 0.7 or share == 0.0:
        # Nothing stands out (a flat logo on a similar backdrop) or almost everything does: clear the whole box.
        hole, share = box_hole, 1.0
    else:
        # With a smaller hole the surrounding background inside the box informs the fill too.
        predicted = _coarse_fill(rgb, hole)
    if not quick and structure(rgb, _ring(box_hole, 16)) >= STRUCTURE_QUILT:
        # Quilting meets the picture along its own least-visible cut through the feather band (no soft rim:
        # a rim across a brick would show as the hole's outline), matched in colour and softened there.
        quilted = quilt(rgb, hole, (allowed > 0) & (hole == 0))
        changed = ((quilted != rgb).any(axis=2) | (hole > 0)).astype(np.uint8) * 255
        return quilted, changed, share, "quilted from nearby patches"
    filled, method = predicted.astype(np.float32) + _grain(rgb, hole), "inpainted from its surroundings"
    # A 1-2 px soft rim makes the hole's edge blend instead of stepping from fill to original.
    soft = cv2.GaussianBlur((hole > 0).astype(np.float32), (0, 0), 1.0)
    soft = (np.maximum(soft, (hole > 0).astype(np.float32)) * allowed)[..., None]
    out = rgb.astype(np.float32) * (1.0 - soft) + filled * soft
    result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    touched = soft[..., 0] > 0
    result[~touched] = rgb[~touched]
    return result, (touched.astype(np.uint8) * 255), share, method


def remove(
    rgb: np.ndarray, boxes: Sequence[Box], strength: float, *, quick: bool = False
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """An RGB uint8 array with the boxes' content painted over; the hole used; the share of the boxes filled;
    and how it was filled (quilted where the surround has structure, inpainted where it is smooth).

    The hole (uint8, 255 = replaced) never leaves the boxes grown by a small margin, which creativity
    widens (1 % of the box's shorter side at creativity 1, 3 % at 3). Inside, only what stands out from
    the predicted background is replaced, unless that is most of the box. The mask returned also holds the
    rim where the fill meets the picture: a soft 1-2 px one, or quilting's seam through the feather band.
    The work is done on the boxes' surroundings only (half their size again on each side), which is
    all the fill reads from, as far again for quilting's patches).
    `quick` always fills smoothly: quilting plans its patches at a fixed size whatever the image's, so a
    preview that quilted would cost about as much as the edit it previews.
    """
    height, width = rgb.shape[:2]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
    pad = max(32, max(right - left, bottom - top) + 1)
    x0, y0, x1, y1 = max(0, left - pad), max(0, top - pad), min(width, right + pad), min(height, bottom + pad)
    shifted = [(b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0) for b in boxes]
    part, part_hole, share, method = _paint_over(np.ascontiguousarray(rgb[y0:y1, x0:x1]), shifted, strength, quick)
    result, hole = rgb.copy(), np.zeros((height, width), np.uint8)
    result[y0:y1, x0:x1], hole[y0:y1, x0:x1] = part, part_hole
    return result, hole, share, method
