"""Filling a hole in a picture from its surroundings: the best-fitting nearby patch, matched at the hole's rim."""

from __future__ import annotations

import cv2
import numpy as np

from churns_gql.providers.offline.streaks import along_stripes

# Width of the rim around the hole that a candidate patch must match.
RIM = 4
# Candidate shifts are tried every this many pixels, then refined around the best one.
COARSE = 4
# How far a candidate may also slide along the hole (to line a slanted or wavy pattern up).
JITTER = 48
# At most this many rim pixels are compared per refined candidate, about this many per coarse one.
RIM_SAMPLES = 3000
COARSE_SAMPLES = 600
# The low-frequency seam correction is computed at 1/this of full resolution (it is smooth by nature).
CORRECTION_SCALE = 4
# Grain is what a blur of this sigma takes out: sensor noise and fine texture, not shading.
GRAIN_SIGMA = 1.5
# Pixels of surround read around a hole with no fitting patch, to tell stripes from a flat or grainy surface.
STRIPE_CONTEXT = 24


def fill(bgr: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """`bgr` with the hole (uint8/bool, >0 inside) filled; every pixel outside the hole is returned unchanged.

    The fill is a copy of the same-shaped area nearby whose rim best matches the hole's rim (so stripes
    and grain carry on), with the remaining colour difference at the rim spread smoothly over the hole.
    Diffusion inpainting alone leaves a soft smear that shows on any textured background.
    """
    hole = (hole > 0).astype(np.uint8)
    if not hole.any():
        return bgr.copy()
    shift, cost, flat = _best_shift(bgr, hole)
    # On a plain surround (a banner, a studio wall) no patch beats a smooth fill, and a patch from beyond its
    # edge would bring in another colour; diffusion is right there.
    if shift is None or cost >= flat:
        return _diffuse(bgr, hole, radius)
    dy, dx = shift
    ys, xs = np.nonzero(hole)
    out = bgr.copy()
    out[ys, xs] = bgr[ys + dy, xs + dx]
    return _correct_seam(bgr, out, hole, shift)


def _best_shift(bgr: np.ndarray, hole: np.ndarray) -> tuple[tuple[int, int] | None, float, float]:
    """The (dy, dx) whose shifted rim differs least from the hole's rim, among shifts clear of the hole; its
    mean difference; and the rim's own mean difference from its median colour (what a flat fill would miss by)."""
    height, width = hole.shape
    ys, xs = np.nonzero(hole)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    rim = cv2.dilate(hole, np.ones((2 * RIM + 1, 2 * RIM + 1), np.uint8)) & (1 - hole)
    ry, rx = np.nonzero(rim)
    if len(ry) > RIM_SAMPLES:
        keep = np.linspace(0, len(ry) - 1, RIM_SAMPLES).astype(int)
        ry, rx = ry[keep], rx[keep]
    here = bgr[ry, rx].astype(np.int16)
    flat = float(np.abs(here - np.median(here, axis=0)).mean())
    hh, hw = bottom - top, right - left
    reach_y, reach_x = hh + 2 * RIM + 2, hw + 2 * RIM + 2

    def cost(dy: int, dx: int, step: int = 1) -> float:
        """How much the rim shifted by (dy, dx) differs from the rim (every `step`-th rim pixel); infinite when
        the shifted rim leaves the image."""
        if top - RIM + dy < 0 or bottom + RIM + dy > height or left - RIM + dx < 0 or right + RIM + dx > width:
            return float("inf")
        return float(np.abs(bgr[ry[::step] + dy, rx[::step] + dx].astype(np.int16) - here[::step]).mean())

    # Shifts of at least the hole's size plus its rim along one axis never copy the hole into itself; a sideways
    # jitter along the other axis lets a slanted or wavy pattern line up. Coarse steps on a sample of the rim
    # first, then the best few refined pixel by pixel on all of it.
    # Only shifts that keep the shifted rim inside the image are listed.
    low_y, high_y, low_x, high_x = RIM - top, height - bottom - RIM, RIM - left, width - right - RIM
    coarse: list[tuple[int, int, bool]] = []
    for sign in (-1, 1):
        along_x = [j for j in range(-JITTER, JITTER + 1, COARSE) if low_x <= j <= high_x]
        along_y = [j for j in range(-JITTER, JITTER + 1, COARSE) if low_y <= j <= high_y]
        for d in range(reach_y, reach_y + max(hh, 64), COARSE):
            if low_y <= sign * d <= high_y:
                coarse += [(sign * d, j, True) for j in along_x]
        for d in range(reach_x, reach_x + max(hw, 64), COARSE):
            if low_x <= sign * d <= high_x:
                coarse += [(j, sign * d, False) for j in along_y]
    sample = max(1, len(ry) // COARSE_SAMPLES)
    scored = sorted((cost(dy, dx, sample), dy, dx, vertical) for dy, dx, vertical in coarse)
    best, best_cost = None, float("inf")
    for rough, dy0, dx0, vertical in scored[:3]:
        if rough == float("inf"):
            break
        for dy in range(dy0 - COARSE + 1, dy0 + COARSE):
            for dx in range(dx0 - COARSE + 1, dx0 + COARSE):
                # Refining must not bring the copy back over the hole.
                if (abs(dy) < reach_y) if vertical else (abs(dx) < reach_x):
                    continue
                c = cost(dy, dx)
                if c < best_cost:
                    best_cost, best = c, (dy, dx)
    return best, best_cost, flat


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
    """`bgr` with the hole filled where no nearby patch fits: along the surround's stripes when it has them (a
    bending wood grain), else by diffusion (Telea)."""
    ys, xs = np.nonzero(hole)
    height, width = hole.shape
    # Wide enough for the stripe direction to be read around the hole, not only at its rim.
    m = max(2 * radius + 4, STRIPE_CONTEXT)
    T, B = max(0, int(ys.min()) - m), min(height, int(ys.max()) + m + 1)
    L, R = max(0, int(xs.min()) - m), min(width, int(xs.max()) + m + 1)
    out = bgr.copy()
    gap = hole[T:B, L:R]
    reach = int(max(B - T, R - L))
    streaked = along_stripes(bgr[T:B, L:R], gap, reach)
    smooth = streaked if streaked is not None else cv2.inpaint(bgr[T:B, L:R], gap, radius, cv2.INPAINT_TELEA)
    out[T:B, L:R] = _regrained(bgr[T:B, L:R], smooth, gap)
    return out


def _regrained(around: np.ndarray, smooth: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """`smooth` with the fine grain of the hole's surround scattered over the hole, so a diffused fill does not
    show as a waxy patch on a grainy photo."""
    # The blur leaves the hole out: next to it, a blur over the old pixels too would count their colour as grain.
    known = (gap == 0).astype(np.float32)
    share = np.maximum(cv2.GaussianBlur(known, (0, 0), GRAIN_SIGMA), 1e-6)[..., None]
    local = cv2.GaussianBlur(around.astype(np.float32) * known[..., None], (0, 0), GRAIN_SIGMA) / share
    grain = around.astype(np.float32) - local
    rim = cv2.dilate(gap, np.ones((2 * RIM + 1, 2 * RIM + 1), np.uint8)) & (1 - gap)
    pool = grain[rim > 0]
    # Clipped to the grain's robust spread: stray edges in the rim (a banner's border, a letter's halo) are not grain.
    spread = 2.5 * 1.4826 * np.median(np.abs(pool - np.median(pool, axis=0)), axis=0)
    pool = np.clip(pool, -spread, spread)
    inside = np.nonzero(gap)
    if not len(pool) or not len(inside[0]):
        return smooth
    # Seeded, so the same edit gives the same pixels every time.
    picks = np.random.default_rng(len(pool)).integers(0, len(pool), len(inside[0]))
    out = smooth.astype(np.float32)
    out[inside] += pool[picks]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
