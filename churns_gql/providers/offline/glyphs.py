"""The old lettering of one text line: which pixels are glyphs (and shadow), their colour, weight and extent."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from churns_gql.imaging import RNG_SEED, Box
from churns_gql.providers.offline import fonts

RGB = tuple[int, int, int]
# Colour clusters per text box: background, lettering, and one more for a shadow or anti-aliased edges.
CLUSTERS = 3
# A cluster making up less than this share of the rim outside the OCR box is part of the lettering.
RIM_SHARE = 0.1


@dataclass
class Glyphs:
    """The old lettering inside its box: its pixels (shadow included), colours, weight and extent."""

    mask: np.ndarray  # uint8 over the whole image, 255 on glyph and shadow pixels
    colour: RGB
    ink: Box  # the bounding box of the lettering's own pixels
    bold: bool
    shadow: tuple[RGB, int, int] | None = None  # the shadow's colour and (dx, dy) offset, when it has one
    letters: np.ndarray | None = None  # 0/1 over the line's patch, the letters' own pixels; None when not separable


def find_glyphs(bgr: np.ndarray, box: Box) -> Glyphs:
    """The lettering in `box`: the colour clusters rare on the rim just outside it, the largest and most
    distinct of them being the letters' own colour, an offset copy of their shape being a drop shadow."""
    height, width = bgr.shape[:2]
    l, t, r, b = box
    pad = max(2, round(0.12 * (b - t)))
    L, T, R, B = max(0, l - pad), max(0, t - pad), min(width, r + pad), min(height, b + pad)
    patch = bgr[T:B, L:R]
    lab = cv2.cvtColor(patch, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(RNG_SEED)  # k-means++ picks its first centres at random
    _, labels, centres = cv2.kmeans(lab, CLUSTERS, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(patch.shape[:2])
    inner = np.zeros(labels.shape, np.uint8)
    inner[max(0, t - T - pad // 2) : b - T + pad // 2, max(0, l - L - pad // 2) : r - L + pad // 2] = 1
    rim = inner == 0
    share = np.array([(labels[rim] == k).mean() if rim.any() else 0.5 for k in range(CLUSTERS)])
    background = int(np.argmax(share))
    letters = [k for k in range(CLUSTERS) if share[k] < RIM_SHARE] or [int(np.argmin(share))]
    masks = {k: ((labels == k) & (inner > 0)).astype(np.uint8) for k in letters}
    distance = {k: float(np.linalg.norm(centres[k] - centres[background])) for k in letters}
    fill = max(letters, key=lambda k: masks[k].sum() * distance[k])
    ink = np.zeros_like(inner)
    for k in letters:
        ink |= masks[k]
    coverage = ink.sum() / max(1, inner.sum())
    separable = 0.02 <= coverage <= 0.75
    if not separable:
        # No clean split into lettering and background (lettering over a photo): the box is the lettering's area.
        ink, masks = inner.copy(), {fill: inner.copy()}
    mask = np.zeros((height, width), np.uint8)
    mask[T:B, L:R] = ink * 255
    own = masks[fill]
    colour = _median_colour(patch, own)
    ys, xs = np.nonzero(own if own.any() else ink)
    ink_box = (L + int(xs.min()), T + int(ys.min()), L + int(xs.max()) + 1, T + int(ys.max()) + 1)
    # Stroke width from the thickest point of the strokes (twice the distance to their edge).
    stroke = 2.0 * float(cv2.distanceTransform(own, cv2.DIST_L2, 3).max())
    bold = stroke / max(1, ink_box[3] - ink_box[1]) >= fonts.BOLD_STROKE_RATIO
    shadow = None
    for k in letters:
        if k != fill and shadow is None and _not_an_edge(centres[k], centres[fill], centres[background]):
            offset = _shadow_offset(own, masks[k], max(3, round(0.15 * (b - t))))
            if offset is not None:
                shadow = (_median_colour(patch, masks[k]), *offset)
    return Glyphs(mask=mask, colour=colour, ink=ink_box, bold=bold, shadow=shadow, letters=own if separable else None)


def _median_colour(patch: np.ndarray, mask: np.ndarray) -> RGB:
    """The median RGB colour of a BGR patch's pixels under `mask`, away from their anti-aliased edge."""
    core = cv2.erode(mask, np.ones((3, 3), np.uint8))
    pixels = patch[(core if core.sum() >= 20 else mask) > 0]
    if not len(pixels):
        return (255, 255, 255)
    blue, green, red = np.median(pixels, axis=0)
    return int(red), int(green), int(blue)


def _not_an_edge(colour: np.ndarray, letters: np.ndarray, background: np.ndarray) -> bool:
    """Whether a cluster's colour is its own, not the blend of letters and background that anti-aliasing makes."""
    span = background - letters
    length = float(np.dot(span, span))
    if length < 1:
        return True
    along = float(np.dot(colour - letters, span)) / length
    off_line = float(np.linalg.norm(colour - letters - along * span))
    return not (0.15 < along < 0.85 and off_line < 0.3 * np.sqrt(length))


def _shadow_offset(letters: np.ndarray, other: np.ndarray, reach: int) -> tuple[int, int] | None:
    """The (dx, dy) by which the letters' shape covers most of `other`, when `other` is their drop shadow."""
    count = int(other.sum())
    if count < 0.1 * letters.sum():
        return None
    best, best_overlap = None, 0.0
    h, w = letters.shape
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if abs(dx) + abs(dy) < 2:
                continue
            moved = np.zeros_like(letters)
            moved[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = letters[
                max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)
            ]
            overlap = float((moved & other).sum()) / count
            if overlap > best_overlap:
                best, best_overlap = (dx, dy), overlap
    return best if best_overlap >= 0.5 else None
