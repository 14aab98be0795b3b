"""Minimum-error boundary cuts (Efros-Freeman image quilting): where a new tile meets what is already there, the
boundary follows the path along which the two differ least (through mortar, between blades), not a straight
line, and is then softened over a pixel or two.

A window holds three kinds of pixel: unknown ones the tile must cover, fixed ones it may never touch (the
picture beyond the editable band), and known, changeable ones (earlier tiles, the editable band around the hole)
through which the cut may run. Each side of the window that has changeable pixels in its strip gets its own cut
(a dynamic-programming minimum-cost path along the strip); the tile covers what lies inside all of them. Fixed
pixels bound the cut, not the blend's reach: the blend is clamped to nothing there, so they stay bit-identical.
"""

from __future__ import annotations

import cv2
import numpy as np

from churns_gql.providers.offline.tint import correction

# Added per pixel to a path position that would leave an unknown pixel uncovered or cover a fixed one: far above
# any colour error (3 × 255²), so it only decides where no allowed path exists.
_FORBIDDEN = 1e9


def lay(
    old: np.ndarray, new: np.ndarray, unknown: np.ndarray, fixed: np.ndarray, depth: int, soften: float
) -> np.ndarray:
    """`old` (float32 window, in place) with `new` laid over it inside the minimum-error cuts; returns `old`.

    `unknown` pixels always take `new`, `fixed` ones never; `depth` is how far into the window from each side a
    cut may run; the cut is blended over a Gaussian of `soften` px (none when 0)."""
    inside = cut_mask(old, new, unknown, fixed, depth)
    # Each region of the tile takes the colour difference measured along the cut (tint.py); then the cut blends.
    new = new + correction(old, new, inside, ~unknown)
    alpha = inside.astype(np.float32)
    if soften > 0:
        # Replicated borders: the blend never reaches for pixels beyond the window (or the image).
        alpha = cv2.GaussianBlur(alpha, (0, 0), soften, borderType=cv2.BORDER_REPLICATE)
    alpha = np.where(unknown, 1.0, np.where(fixed, 0.0, alpha)).astype(np.float32)[..., None]
    old += (new - old) * alpha
    return old


def cut_mask(old: np.ndarray, new: np.ndarray, unknown: np.ndarray, fixed: np.ndarray, depth: int) -> np.ndarray:
    """Where the tile `new` replaces `old`: inside every side's minimum-error cut, always on unknown pixels and
    never on fixed ones (bool, square-window-shaped)."""
    step = old - new
    error = step[..., 0] ** 2 + step[..., 1] ** 2 + step[..., 2] ** 2
    inside = np.ones(unknown.shape, bool)
    changeable = ~unknown & ~fixed
    strip = min(depth, unknown.shape[0] // 2, unknown.shape[1] // 2)
    # Each side is cut as if it were the left one, on a view turned so that it is; a side whose strip has
    # nothing to cut through (all unknown, or all fixed) keeps the tile's straight edge.
    turns = [turn for turn in (_left, _right, _top, _bottom) if turn(changeable)[:, :strip].any()]
    if strip < 2 or not turns:
        return unknown & ~fixed
    costs = np.stack([_side_cost(t(error)[:, :strip], t(unknown)[:, :strip], t(fixed)[:, :strip]) for t in turns])
    for turn, columns in zip(turns, min_paths(costs), strict=True):
        side = np.arange(turn(unknown).shape[1])[None, :] >= columns[:, None]
        # The turned view writes back through to the window's own orientation.
        turn(inside)[...] &= side
    return (inside | unknown) & ~fixed


def _left(a: np.ndarray) -> np.ndarray:
    """The window as seen from its left side (itself)."""
    return a


def _right(a: np.ndarray) -> np.ndarray:
    """The window mirrored, so its right side is on the left."""
    return a[:, ::-1]


def _top(a: np.ndarray) -> np.ndarray:
    """The window transposed, so its top is on the left."""
    return a.T


def _bottom(a: np.ndarray) -> np.ndarray:
    """The window transposed and mirrored, so its bottom is on the left."""
    return a.T[:, ::-1]


def _side_cost(error: np.ndarray, unknown: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The cost of each column as a row's first covered one: its error, or forbidden when it would leave an
    unknown pixel of the row uncovered or cover a fixed one."""
    rows, cols = error.shape
    index = np.arange(cols)[None, :]
    first_unknown = np.where(unknown.any(axis=1), unknown.argmax(axis=1), cols)[:, None]
    last_fixed = np.where(fixed.any(axis=1), cols - 1 - fixed[:, ::-1].argmax(axis=1), -1)[:, None]
    return error.astype(np.float64) + _FORBIDDEN * ((index > first_unknown) + (index <= last_fixed))


def min_paths(cost: np.ndarray) -> np.ndarray:
    """For each of a stack of cost arrays (paths × rows × columns), the column per row of the top-to-bottom path
    of least total cost that moves at most one column a row; all found in one pass over the rows."""
    count, rows, cols = cost.shape
    steps = np.zeros((rows, count, cols), np.int8)
    padded = np.full((count, cols + 2), np.inf)
    padded[:, 1:-1] = cost[:, 0]
    total = padded[:, 1:-1]
    choices = np.empty((3, count, cols))
    for row in range(1, rows):
        choices[0], choices[1], choices[2] = padded[:, :-2], total, padded[:, 2:]
        steps[row] = choices.argmin(axis=0)
        np.add(choices.min(axis=0), cost[:, row], out=total)
    paths = np.empty((count, rows), np.intp)
    paths[:, -1] = total.argmin(axis=1)
    across = np.arange(count)
    # Walked back for all paths at once: each row's step says where the path came from in the row above.
    for row in range(rows - 1, 0, -1):
        paths[:, row - 1] = paths[:, row] + steps[row, across, paths[:, row]] - 1
    return paths
