"""Filling a hole in a picture from its surroundings: the best-fitting nearby patch, matched at the hole's rim."""

from __future__ import annotations

import cv2
import numpy as np

# Width of the rim around the hole that a candidate patch must match.
RIM = 4
# Candidate shifts are tried every this many pixels.
STEP = 2
# The low-frequency seam correction is computed at 1/this of full resolution (it is smooth by nature).
CORRECTION_SCALE = 4


def fill(bgr: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """`bgr` with the hole (uint8/bool, >0 inside) filled; every pixel outside the hole is returned unchanged.

    The fill is a copy of the same-shaped area nearby whose rim best matches the hole's rim (so stripes
    and grain carry on), with the remaining colour difference at the rim spread smoothly over the hole.
    Diffusion inpainting alone leaves a soft smear that shows on any textured background.
    """
    hole = (hole > 0).astype(np.uint8)
    if not hole.any():
        return bgr.copy()
    shift = _best_shift(bgr, hole)
    if shift is None:
        return _diffuse(bgr, hole, radius)
    dy, dx = shift
    ys, xs = np.nonzero(hole)
    out = bgr.copy()
    out[ys, xs] = bgr[ys + dy, xs + dx]
    return _correct_seam(bgr, out, hole, shift)


def _best_shift(bgr: np.ndarray, hole: np.ndarray) -> tuple[int, int] | None:
    """The (dy, dx) whose shifted rim differs least from the hole's rim, among shifts clear of the hole."""
    height, width = hole.shape
    ys, xs = np.nonzero(hole)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    rim = cv2.dilate(hole, np.ones((2 * RIM + 1, 2 * RIM + 1), np.uint8)) & (1 - hole)
    ry, rx = np.nonzero(rim)
    if len(ry) > 6000:
        keep = np.linspace(0, len(ry) - 1, 6000).astype(int)
        ry, rx = ry[keep], rx[keep]
    here = bgr[ry, rx].astype(np.int16)
    hh, hw = bottom - top, right - left
    candidates: list[tuple[int, int]] = []
    # Shifts at least the hole's size plus its rim along one axis, so the copied area never overlaps the hole.
    for sign in (-1, 1):
        reach_y, reach_x = hh + 2 * RIM + 2, hw + 2 * RIM + 2
        candidates += [(sign * d, 0) for d in range(reach_y, reach_y + max(hh, 64), STEP)]
        candidates += [(0, sign * d) for d in range(reach_x, reach_x + max(hw, 64), STEP)]
    best, best_cost = None, float("inf")
    for dy, dx in candidates:
        if top - RIM + dy < 0 or bottom + RIM + dy > height or left - RIM + dx < 0 or right + RIM + dx > width:
            continue
        cost = float(np.abs(bgr[ry + dy, rx + dx].astype(np.int16) - here).mean())
        if cost < best_cost:
            best, best_cost = (dy, dx), cost
    return best


def _correct_seam(original: np.ndarray, patched: np.ndarray, hole: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """`patched` plus the colour mismatch at the hole's rim diffused smoothly across the hole, so no seam shows."""
    dy, dx = shift
    ys, xs = np.nonzero(hole)
    height, width = hole.shape
    m = 2 * RIM + 4 * CORRECTION_SCALE
    T, B = max(0, int(ys.min()) - m), min(height, int(ys.max()) + m + 1)
    L, R = max(0, int(xs.min()) - m), min(width, int(xs.max()) + m + 1)
    gap = hole[T:B, L:R]
    # Around the hole: how the original differs from the copied area read on past the hole's edge. Inside the
    # hole that difference is unknown; filled in smoothly from around, it is the correction the copy needs.
    shifted = np.pad(original, ((max(0, -dy), max(0, dy)), (max(0, -dx), max(0, dx)), (0, 0)), mode="edge")
    oy, ox = max(0, -dy) + dy, max(0, -dx) + dx
    diff = original[T:B, L:R].astype(np.float32) - shifted[T + oy : B + oy, L + ox : R + ox].astype(np.float32)
    size = (max(2, (R - L) // CORRECTION_SCALE), max(2, (B - T) // CORRECTION_SCALE))
    small_gap = (cv2.resize(gap.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    encoded = np.clip(cv2.resize(diff, size, interpolation=cv2.INTER_AREA) / 2 + 128, 0, 255).astype(np.uint8)
    smooth = (cv2.inpaint(encoded, small_gap, 3, cv2.INPAINT_TELEA).astype(np.float32) - 128) * 2
    correction = cv2.GaussianBlur(cv2.resize(smooth, (R - L, B - T), interpolation=cv2.INTER_LINEAR), (0, 0), 2)
    inside = gap[:, :, None] > 0
    roi = patched[T:B, L:R].astype(np.float32) + correction
    out = patched.copy()
    out[T:B, L:R] = np.where(inside, np.clip(roi + 0.5, 0, 255).astype(np.uint8), patched[T:B, L:R])
    return out


def _diffuse(bgr: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """`bgr` with the hole inpainted by diffusion (Telea), for when no nearby patch fits in the image."""
    ys, xs = np.nonzero(hole)
    height, width = hole.shape
    m = 2 * radius + 4
    T, B = max(0, int(ys.min()) - m), min(height, int(ys.max()) + m + 1)
    L, R = max(0, int(xs.min()) - m), min(width, int(xs.max()) + m + 1)
    out = bgr.copy()
    out[T:B, L:R] = cv2.inpaint(bgr[T:B, L:R], hole[T:B, L:R], radius, cv2.INPAINT_TELEA)
    return out
