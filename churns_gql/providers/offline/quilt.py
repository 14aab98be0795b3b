"""Filling a hole by quilting: tile by tile from its edge inwards, each tile the nearby patch that best continues
what is already there (bricks, grass, weave), laid inside minimum-error cuts through its overlap with earlier
tiles and, at the hole's border, through a band of the picture the caller lets it change (seams.py).

Patches are chosen on a copy scaled so the hole is at most PLAN_SIDE px across (matching cost grows with the
search area times the tile area), then copied at full resolution from the same places, so the fill keeps the
picture's own fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from churns_gql.providers.offline.seams import lay

# Tile side relative to the hole's shorter side, and its bounds in px at the planning scale: small enough to
# follow a pattern's drift, large enough to carry its structure (a brick, a blade of grass).
TILE_SHARE = 0.2
TILE_MIN, TILE_MAX = 12, 32
# Patches are chosen where the hole is at most this many px across.
PLAN_SIDE = 160
# Patches are looked for this far around the hole (times its size), where the same surface most likely is.
SEARCH_REACH = 0.8
# Among sources within this much of the best match, one is drawn at random: always the best repeats a patch.
NEAR_BEST = 0.15
_SEED = 7
# The cut between tiles is softened over this share of the overlap, within these bounds (px): enough to hide a
# one-pixel step, too little to smear one tile's brick into the next (the colours are matched before, tint.py).
SOFTEN_SHARE = 0.12
SOFTEN_PX = (0.7, 1.5)


@dataclass(frozen=True)
class _Placement:
    """One tile of the plan: its window's top-left corner and the source window's, at the planning scale."""

    y: int
    x: int
    sy: int
    sx: int


def quilt(bgr: np.ndarray, hole: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
    """`bgr` (uint8, 3 channels) with `hole` (>0 = unknown) filled by quilting. Pixels of `free` (bool) within
    a tile's overlap of the hole may be replaced too, so the fill meets the picture along a least-visible cut;
    every other pixel outside the hole is unchanged."""
    unknown = (hole > 0).astype(np.uint8)
    if not unknown.any():
        return bgr.copy()
    height, width = unknown.shape
    ys, xs = np.nonzero(unknown)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    scale = max(1, int(np.ceil(max(bottom - top, right - left) / PLAN_SIDE)))
    reach = int(SEARCH_REACH * max(bottom - top, right - left)) + 2 * TILE_MAX * scale
    # Whole multiples of the scale, so a planned window maps onto full-resolution pixels exactly.
    T, L = max(0, top - reach) // scale * scale, max(0, left - reach) // scale * scale
    B = T + -(-(min(height, bottom + reach) - T) // scale) * scale
    R = L + -(-(min(width, right + reach) - L) // scale) * scale
    # Rounded up, the region may reach past the picture by less than a scale: mirrored pixels stand in there
    # (a mirrored hole stays a hole), so a hole touching the picture's edge is filled right up to it.
    below, beyond = max(0, B - height), max(0, R - width)
    region = cv2.copyMakeBorder(bgr[T:, L:], 0, below, 0, beyond, cv2.BORDER_REFLECT_101)[: B - T, : R - L]
    gap = cv2.copyMakeBorder(unknown[T:, L:], 0, below, 0, beyond, cv2.BORDER_REFLECT_101)[: B - T, : R - L]
    side = int(np.clip(TILE_SHARE * min(bottom - top, right - left) / scale, TILE_MIN, TILE_MAX))
    overlap = max(3, side // 3)
    # The band a cut may run through: changeable pixels no further from the hole than one overlap.
    band = np.zeros(gap.shape, bool)
    if free is not None:
        band_px = overlap * scale
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
        allowed = np.zeros(gap.shape, bool)
        allowed[: height - T, : width - L] = free[T:B, L:R]
        band = (cv2.dilate(gap, kernel) > 0) & (gap == 0) & allowed
    if scale == 1:
        small, small_gap, small_band = region, gap > 0, band
    else:
        size = ((R - L) // scale, (B - T) // scale)
        small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        small_gap = cv2.resize(gap.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        # A planning pixel is changeable only if every full-resolution pixel under it is.
        small_band = (cv2.resize(band.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999) & ~small_gap
    plan, window, planned = _plan(small, small_gap.astype(np.uint8), small_band, side, overlap)
    if not plan:
        return bgr.copy()
    # At full scale the plan's own canvas is the fill; only a reduced plan is laid again at full resolution.
    filled = planned if scale == 1 else _apply(region.astype(np.float32), gap, band, plan, (window, overlap), scale)
    laid = np.where(((gap > 0) | band)[..., None], np.clip(filled + 0.5, 0, 255).astype(np.uint8), region)
    out = bgr.copy()
    out[T:B, L:R] = laid[: height - T, : width - L]
    return out


def _plan(
    bgr: np.ndarray, gap: np.ndarray, band: np.ndarray, side: int, overlap: int
) -> tuple[list[_Placement], int, np.ndarray]:
    """The tiles, in the order they are filled, and their sources; the window side (tile plus overlap); and the
    planning canvas with the tiles laid (float32)."""
    window = side + 2 * overlap
    todo = gap.copy()
    height, width = todo.shape
    if height < window or width < window:
        return [], window, bgr.astype(np.float32)
    # A source window may not touch the hole at all (its pixels are the thing being removed); the hole is grown
    # a pixel so that holds at full resolution too.
    clear = cv2.erode(
        1 - cv2.dilate(todo, np.ones((3, 3), np.uint8)),
        np.ones((window, window), np.uint8),
        anchor=(0, 0),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    valid = clear[: height - window + 1, : width - window + 1] > 0
    if not valid.any():
        return [], window, bgr.astype(np.float32)
    # Sources are read from the untouched picture: tiles may overwrite the band around the hole, which a later
    # source window may include.
    picture = bgr.astype(np.float32)
    work = picture.copy()
    squares = picture * picture
    fixed = (gap == 0) & ~band
    rng = np.random.default_rng(_SEED)
    corners, plan = _tiles(todo, side, overlap), []
    while corners:
        # The tile that knows most of its surroundings goes next: the fill grows inwards from the hole's edge.
        known_share = [float((todo[y : y + window, x : x + window] == 0).mean()) for y, x in corners]
        y, x = corners.pop(int(np.argmax(known_share)))
        target = work[y : y + window, x : x + window]
        source = _best_source(picture, squares, target, todo[y : y + window, x : x + window], valid, rng)
        if source is None:
            continue
        placement = _Placement(y, x, *source)
        _blend(work, picture, (todo, fixed), placement, (window, overlap))
        plan.append(placement)
    return plan, window, work


def _tiles(todo: np.ndarray, side: int, overlap: int) -> list[tuple[int, int]]:
    """Top-left corners of the windows (tile plus overlap all round) whose cores cover every unknown pixel."""
    height, width = todo.shape
    window = side + 2 * overlap
    ys, xs = np.nonzero(todo)
    corners = []
    for cy in range(int(ys.min()), int(ys.max()) + 1, side):
        for cx in range(int(xs.min()), int(xs.max()) + 1, side):
            if todo[cy : cy + side, cx : cx + side].any():
                corners.append(
                    (int(np.clip(cy - overlap, 0, height - window)), int(np.clip(cx - overlap, 0, width - window)))
                )
    return corners


def _best_source(
    picture: np.ndarray,
    squares: np.ndarray,
    target: np.ndarray,
    todo: np.ndarray,
    valid: np.ndarray,
    rng: np.random.Generator,
) -> tuple[int, int] | None:
    """The corner of a clear source window of `picture` that matches the known pixels of `target` (one of the
    near-best, drawn at random), or None when there is no clear window."""
    window = todo.shape[0]
    known = (todo == 0).astype(np.float32)
    if known.sum() < 0.1 * window * window:
        # Nothing to match yet: the window is compared with the surround's mean colour.
        known, target = np.ones_like(known), np.full_like(target, float(picture[valid.nonzero()].mean()))
    mask = np.repeat(known[..., None], 3, axis=2)
    # The masked sum of squared differences as two plain correlations (OpenCV's masked mode is far slower):
    # sum m(I - T)^2 = corr(I^2, m) - 2 corr(I, mT) + sum mT^2.
    cost = (
        cv2.matchTemplate(squares, mask, cv2.TM_CCORR)
        - 2 * cv2.matchTemplate(picture, mask * target, cv2.TM_CCORR)
        + float((mask * target * target).sum())
    )
    cost = np.where(valid, np.maximum(cost, 0.0), np.inf).ravel()
    best = float(cost.min())
    if not np.isfinite(best):
        return None
    near = np.flatnonzero(cost <= best * (1 + NEAR_BEST) + 1e-3)
    pick = int(rng.choice(near[np.argsort(cost[near])[:4]]))
    sy, sx = divmod(pick, valid.shape[1])
    return sy, sx


def _blend(
    work: np.ndarray, picture: np.ndarray, masks: tuple[np.ndarray, np.ndarray], p: _Placement, sizes: tuple[int, int]
) -> None:
    """Lay the source window of `p` (from `picture`) over its target window of `work` (in place) inside the
    minimum-error cuts through what is known there, and mark the window known in `masks` (still to fill, fixed);
    `sizes` are the window's side and its overlap."""
    todo, fixed = masks
    window, overlap = sizes
    target = (slice(p.y, p.y + window), slice(p.x, p.x + window))
    source = picture[p.sy : p.sy + window, p.sx : p.sx + window]
    # Cuts may run two overlaps deep: neighbours laid earlier already covered the first overlap of this core.
    soften = float(np.clip(SOFTEN_SHARE * overlap, *SOFTEN_PX))
    lay(work[target], source, todo[target] > 0, fixed[target], 2 * overlap, soften)
    todo[target] = 0


def _apply(
    work: np.ndarray, gap: np.ndarray, band: np.ndarray, plan: list[_Placement], sizes: tuple[int, int], scale: int
) -> np.ndarray:
    """The planned tiles laid at full resolution (`scale` times the planning one, window and overlap `sizes` at
    the planning scale), in the planned order, the cuts found again on the full-resolution pixels."""
    todo = gap.copy()
    fixed = (gap == 0) & ~band
    picture = work.copy()
    window, overlap = sizes
    for p in plan:
        at = _Placement(p.y * scale, p.x * scale, p.sy * scale, p.sx * scale)
        _blend(work, picture, (todo, fixed), at, (window * scale, overlap * scale))
    return work
