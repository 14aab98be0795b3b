"""Filling a hole along the stripes of its surround (wood grain, brushed metal, corrugation, a smooth gradient).

Where no nearby patch lines up with a bending pattern, diffusion blurs the stripes into a smudge in the shape of
the hole. Instead each hole pixel takes the colours the surround has where a line through it, running along the
local stripe direction, leaves the hole on either side, mixed by distance: stripes carry straight on through.
"""

from __future__ import annotations

import cv2
import numpy as np

COHERENT = 0.45
"""Coherence of the surround's mean structure tensor (0 no direction .. 1 perfect stripes) from which the hole is
filled along the stripes: measured 0.62-0.80 around lettering on wavy wood, under 0.2 on grass and noise."""
TENSOR_SIGMA = 6.0
"""Smoothing (px) of the structure tensor: wider than one stripe's edge, narrow enough to follow a bending grain."""
SEAM_SIGMA = 2.0
"""Blur (px) over the filled lines: hides the steps between neighbouring lines, far narrower than a stripe."""
MAX_HALF_WIDTH = 32
"""Widest hole (px from its middle to its edge) filled along stripes: a 170 px headline's dilated strokes are ~28."""
MIN_ENERGY = 4.0
"""Mean squared grey-level gradient of the rim below which the surround is flat and diffusion is already right."""


def _tensor(grey: np.ndarray, known: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The structure tensor's (Jxx, Jxy, Jyy) from the known pixels, spread into the hole by normalised smoothing."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    # A gradient straddling the hole's edge measures the old lettering, not the stripes.
    valid = cv2.erode(known, np.ones((3, 3), np.uint8)).astype(np.float32)
    weight = np.maximum(cv2.GaussianBlur(valid, (0, 0), sigma), 1e-6)
    parts = (gx * gx, gx * gy, gy * gy)
    jxx, jxy, jyy = (cv2.GaussianBlur(p * valid, (0, 0), sigma) / weight for p in parts)
    return jxx, jxy, jyy


def _coherence(jxx: float, jxy: float, jyy: float) -> float:
    """How one-directional a structure tensor is: 0 for no preferred direction, 1 for perfect stripes."""
    return float(np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / max(1e-6, jxx + jyy))


def along_stripes(bgr: np.ndarray, hole: np.ndarray, reach: int) -> np.ndarray | None:
    """`bgr` with the hole (uint8 0/1) filled along its surround's stripes, or None when the surround has none.

    `reach` bounds how far (px) a line is followed through the hole before that side counts as not found.
    The result carries no grain of its own; the caller adds the surround's.
    """
    known = (hole == 0).astype(np.uint8)
    # Only thin holes (lettering's strokes): deep inside a wide one the direction is a guess and straight lines
    # through it cannot follow a grain that bends.
    if float(cv2.distanceTransform(1 - known, cv2.DIST_L2, 3).max()) > MAX_HALF_WIDTH:
        return None
    grey = cv2.GaussianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 1.0)
    rim = (cv2.dilate(hole, np.ones((9, 9), np.uint8)) > 0) & (known > 0)
    jxx, jxy, jyy = _tensor(grey, known, TENSOR_SIGMA)
    mean = (float(jxx[rim].mean()), float(jxy[rim].mean()), float(jyy[rim].mean()))
    if mean[0] + mean[2] < MIN_ENERGY or _coherence(*mean) < COHERENT:
        return None
    ys, xs = np.nonzero(hole)
    # The stripes run across the dominant gradient: the tensor's minor eigenvector.
    theta = 0.5 * np.arctan2(2 * jxy[ys, xs], jxx[ys, xs] - jyy[ys, xs])
    dx, dy = -np.sin(theta), np.cos(theta)
    # Noise is taken out of the colours read at the hole's edge, with the hole's own pixels left out of the blur:
    # the first known pixel next to it would otherwise bring a quarter of the old lettering's colour along.
    share = np.maximum(cv2.GaussianBlur(known.astype(np.float32), (0, 0), 1.0), 1e-6)[..., None]
    smooth = cv2.GaussianBlur(bgr.astype(np.float32) * known[..., None], (0, 0), 1.0) / share
    height, width = hole.shape
    total = np.zeros((len(ys), 3), np.float32)
    weights = np.zeros(len(ys), np.float32)
    for sign in (1.0, -1.0):
        found = np.zeros(len(ys), bool)
        for step in range(1, reach + 1):
            todo = ~found
            if not todo.any():
                break
            px = np.rint(xs[todo] + sign * step * dx[todo]).astype(int)
            py = np.rint(ys[todo] + sign * step * dy[todo]).astype(int)
            inside = (px >= 0) & (px < width) & (py >= 0) & (py < height)
            hit = np.zeros(len(px), bool)
            hit[inside] = known[py[inside], px[inside]] > 0
            index = np.flatnonzero(todo)[hit]
            # The nearer side counts more: 1/distance weights make the two sides meet smoothly in the middle.
            total[index] += smooth[py[hit], px[hit]] / step
            weights[index] += 1.0 / step
            found[index] = True
    if not (weights > 0).all():
        return None
    filled = smooth.copy()
    filled[ys, xs] = total / weights[:, None]
    # Neighbouring lines can leave the hole at different places (a letter's counter, a serif): a blur far narrower
    # than a stripe hides the steps that makes without softening the stripes.
    filled = cv2.GaussianBlur(filled, (0, 0), SEAM_SIGMA)
    out = bgr.copy()
    out[ys, xs] = np.clip(filled[ys, xs] + 0.5, 0, 255).astype(np.uint8)
    return out
