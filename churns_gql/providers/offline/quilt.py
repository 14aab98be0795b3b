"""Filling a hole by quilting: tile by tile from its edge inwards, each tile the nearby patch that best continues
what is already there (bricks, grass, weave), blended over a narrow overlap.

Patches are chosen on a copy scaled so the hole is at most PLAN_SIDE px across (matching cost grows with the
search area times the tile area), then copied at full resolution from the same places, so the fill keeps the
picture's own fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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


@dataclass(frozen=True)
class _Placement:
    """One tile of the plan: its window's top-left corner and the source window's, at the planning scale."""

    y: int
    x: int
    sy: int
    sx: int


def quilt(bgr: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`bgr` (uint8, 3 channels) with `hole` (>0 = unknown) filled by quilting; pixels outside it unchanged."""
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
    B = T + (min(height, bottom + reach) - T) // scale * scale
    R = L + (min(width, right + reach) - L) // scale * scale
    region, gap = bgr[T:B, L:R], unknown[T:B, L:R]
    if scale == 1:
        small, small_gap = region, gap > 0
    else:
        small = cv2.resize(region, ((R - L) // scale, (B - T) // scale), interpolation=cv2.INTER_AREA)
        small_gap = cv2.resize(gap.astype(np.float32), small.shape[1::-1], interpolation=cv2.INTER_AREA) > 0
    side = int(np.clip(TILE_SHARE * min(bottom - top, right - left) / scale, TILE_MIN, TILE_MAX))
    overlap = max(3, side // 3)
    plan, window, planned = _plan(small, small_gap.astype(np.uint8), side, overlap)
    if not plan:
        return bgr.copy()
    # At full scale the plan's own canvas is the fill; only a reduced plan is laid again at full resolution.
    filled = planned if scale == 1 else _apply(region.astype(np.float32), gap, plan, window, scale)
    out = bgr.copy()
    out[T:B, L:R] = np.where(gap[..., None] > 0, np.clip(filled + 0.5, 0, 255).astype(np.uint8), region)
    return out


def _plan(bgr: np.ndarray, gap: np.ndarray, side: int, overlap: int) -> tuple[list[_Placement], int, np.ndarray]:
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
    work = bgr.astype(np.float32)
    squares = work * work
    rng = np.random.default_rng(_SEED)
    corners, plan = _tiles(todo, side, overlap), []
    while corners:
        # The tile that knows most of its surroundings goes next: the fill grows inwards from the hole's edge.
        known_share = [float((todo[y : y + window, x : x + window] == 0).mean()) for y, x in corners]
        y, x = corners.pop(int(np.argmax(known_share)))
        source = _best_source(work, squares, todo[y : y + window, x : x + window], (y, x), valid, rng)
        if source is None:
            continue
        placement = _Placement(y, x, *source)
        _blend(work, todo, gap, placement, window)
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
    work: np.ndarray,
    squares: np.ndarray,
    todo: np.ndarray,
    at: tuple[int, int],
    valid: np.ndarray,
    rng: np.random.Generator,
) -> tuple[int, int] | None:
    """The corner of a clear source window that matches the known pixels of the window at `at` (one of the
    near-best, drawn at random), or None when there is no clear window."""
    y, x = at
    window = todo.shape[0]
    target = work[y : y + window, x : x + window]
    known = (todo == 0).astype(np.float32)
    if known.sum() < 0.1 * window * window:
        # Nothing to match yet: the window is compared with the surround's mean colour.
        known, target = np.ones_like(known), np.full_like(target, float(work[valid.nonzero()].mean()))
    mask = np.repeat(known[..., None], 3, axis=2)
    # The masked sum of squared differences as two plain correlations (OpenCV's masked mode is far slower):
    # sum m(I - T)^2 = corr(I^2, m) - 2 corr(I, mT) + sum mT^2.
    cost = (
        cv2.matchTemplate(squares, mask, cv2.TM_CCORR)
        - 2 * cv2.matchTemplate(work, mask * target, cv2.TM_CCORR)
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


def _weight(todo: np.ndarray, gap: np.ndarray, window: int) -> np.ndarray:
    """How much of the source each pixel of a window takes: all of it where unknown, fading over the overlap into
    what earlier tiles filled, none in the original picture."""
    unknown = (todo > 0).astype(np.float32)
    ramp = cv2.GaussianBlur(unknown, (0, 0), max(1.0, window / 12))
    return np.where(gap > 0, np.maximum(ramp, unknown), 0.0)[..., None]


def _blend(work: np.ndarray, todo: np.ndarray, gap: np.ndarray, p: _Placement, window: int) -> None:
    """Lay the source window of `p` over its target window (in place) and mark the window known."""
    target = (slice(p.y, p.y + window), slice(p.x, p.x + window))
    weight = _weight(todo[target], gap[target], window)
    source = work[p.sy : p.sy + window, p.sx : p.sx + window]
    work[target] = work[target] * (1 - weight) + source * weight
    todo[target] = 0


def _apply(work: np.ndarray, gap: np.ndarray, plan: list[_Placement], window: int, scale: int) -> np.ndarray:
    """The planned tiles laid at full resolution (`scale` times the planning one), in the planned order."""
    todo = gap.copy()
    for p in plan:
        _blend(work, todo, gap, _Placement(p.y * scale, p.x * scale, p.sy * scale, p.sx * scale), window * scale)
    return work
