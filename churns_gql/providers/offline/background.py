"""Background changes: the subject is segmented with GrabCut and only what lies outside it is blurred, re-filled or re-toned."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from churns_gql.imaging import Box, grab_cut
from churns_gql.offline_rules.intents import BackgroundChange
from churns_gql.providers.base import ProviderError
from churns_gql.providers.offline.tone import apply_edits

WORK_SIDE = 256
"""Longest side GrabCut runs at (0.1-0.25 s here); its edge is then refined at full size by subject_alpha."""
_ITERATIONS = 3
# When no rectangle marks the subject, it is assumed to sit in the middle, as product shots do.
_CENTRE_PRIOR = (0.14, 0.08, 0.86, 0.96)


def _seeds(size: tuple[int, int], boxes: Sequence[Box], scale: float) -> list[tuple[str, np.ndarray]]:
    """The GrabCut seeds to try at work size, each with where it puts the subject (for the notes)."""
    width, height = size
    if boxes:
        seed = np.full((height, width), cv2.GC_BGD, np.uint8)
        for left, top, right, bottom in boxes:
            l, t = int(left * scale), int(top * scale)
            r, b = max(l + 2, int(np.ceil(right * scale))), max(t + 2, int(np.ceil(bottom * scale)))
            seed[t:b, l:r] = cv2.GC_PR_FGD
        return [("the selected area", seed)]
    # First a centred product with room around it, as product shots have; then anything inside a thin frame.
    centred = np.full((height, width), cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = _CENTRE_PRIOR
    centred[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)] = cv2.GC_PR_BGD
    axes = (max(2, round(width * 0.28)), max(2, round(height * 0.36)))
    cv2.ellipse(centred, (width // 2, round(height * 0.53)), axes, 0, 0, 360, int(cv2.GC_PR_FGD), -1)
    framed = np.full((height, width), cv2.GC_BGD, np.uint8)
    fx, fy = max(2, round(width * 0.02)), max(2, round(height * 0.02))
    framed[fy : height - fy, fx : width - fx] = cv2.GC_PR_FGD
    return [("the middle of the image", centred), ("the image inside a thin frame", framed)]


def _largest_parts(mask: np.ndarray) -> np.ndarray:
    """The mask without specks: its largest connected part and any part at least a fifth of that size."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= 0.2 * areas.max()) + 1
    return np.isin(labels, keep).astype(np.uint8)


def _grabcut(small: np.ndarray, seed: np.ndarray) -> np.ndarray | None:
    """GrabCut's subject (uint8, 1 = subject) from a seed, or None when it finds none worth keeping."""
    mask = seed.copy()
    try:
        grab_cut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, None, _ITERATIONS)
    except cv2.error:
        return None
    subject = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # GrabCut likes to claim a one-pixel line along strong backdrop edges (a horizon); opening drops it.
    subject = cv2.morphologyEx(subject, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    share = float(subject.mean())
    return _largest_parts(subject) if 0.01 <= share <= 0.95 else None


def subject_mask(rgb: np.ndarray, boxes: Sequence[Box]) -> tuple[np.ndarray, str]:
    """A uint8 H×W mask (1 = subject) from GrabCut, and which seed found it.

    Raises ProviderError when no seed separates a subject from its background: a made-up outline
    (the seed's ellipse or rectangle) would look worse than saying so.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(width, height))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    for where, seed in _seeds(size, boxes, size[0] / width):
        subject = _grabcut(small, seed)
        if subject is not None:
            # Upscaling a blurred mask and cutting at one half gives a smooth full-size contour, not a staircase.
            soft = cv2.resize(
                cv2.GaussianBlur(subject.astype(np.float32), (0, 0), 0.7),
                (width, height),
                interpolation=cv2.INTER_LINEAR,
            )
            return (soft >= 0.5).astype(np.uint8), where
    hint = "select it more tightly" if boxes else "select it"
    raise ProviderError(
        "bad_request", f"The subject could not be told apart from the background; {hint} with a rectangle."
    )


def _local_mean(
    values: np.ndarray, mask: np.ndarray, size: int, at: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """At the pixels `at`: the mean of `values` over `mask` in a size×size window, and how much mask it held."""
    weight = cv2.boxFilter(mask, -1, (size, size))[at]
    total = cv2.boxFilter(values * mask[..., None], -1, (size, size))[at]
    return total / np.maximum(weight, 1e-4)[:, None], weight


def _nearest(colours: np.ndarray, side: np.ndarray, at: tuple[np.ndarray, ...], reach: int) -> np.ndarray:
    """At the pixels `at`: the colour distance to the closest pixel of `side` within `reach` px (sampled on a grid)."""
    height, width = side.shape
    ys, xs = at
    best = np.full(len(ys), np.inf, np.float32)
    here = colours[ys, xs]
    # A 5×5 grid of offsets finds a close enough sample (a backdrop is smooth over a few pixels) at 1/10 the cost
    # of trying every offset; the same row and column are always among them.
    step = max(1, reach // 2)
    for dy in range(-reach, reach + 1, step):
        py = np.clip(ys + dy, 0, height - 1)
        for dx in range(-reach, reach + 1, step):
            px = np.clip(xs + dx, 0, width - 1)
            distance = ((colours[py, px] - here) ** 2).sum(axis=1)
            best = np.where(side[py, px] > 0, np.minimum(best, distance), best)
    return np.sqrt(best)


def subject_alpha(rgb: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """A float32 subject opacity: 1 inside, 0 well outside, and at the edge read from the local colours.

    GrabCut's edge is only as fine as its working size, so along a band of that uncertainty each pixel
    is placed on the line between the nearby subject colour and the nearby background colour; where
    the two are too alike to tell apart, a smooth ramp is used instead.
    """
    height, width = subject.shape
    radius = max(2, int(np.ceil(1.5 * max(width, height) / WORK_SIDE)) + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    core = cv2.erode(subject, kernel).astype(np.float32)
    outer = cv2.erode(1 - subject, kernel).astype(np.float32)
    alpha = cv2.GaussianBlur(subject.astype(np.float32), (0, 0), radius / 2.0)
    if not core.any() or not outer.any():
        return alpha
    alpha[core > 0], alpha[outer > 0] = 1.0, 0.0
    # Only the thin band between the two eroded sides is uncertain; the work is done there alone.
    band = np.nonzero((core == 0) & (outer == 0))
    colours = rgb.astype(np.float32)
    window = 4 * radius + 1
    fg, fg_weight = _local_mean(colours, core, window, band)
    bg, bg_weight = _local_mean(colours, outer, window, band)
    pixels = colours[band]
    step = fg - bg
    spread = (step * step).sum(axis=1)
    t = np.clip(((pixels - bg) * step).sum(axis=1) / np.maximum(spread, 1e-4), 0.0, 1.0)
    # A subject or backdrop of several colours has a mean that no real pixel matches, so a pixel only
    # changes side when it closely matches the other side's local colour: a cream label next to a
    # blue sky stays subject although it is nearer the sky than the bottle's mean.
    # Measured against the nearest real pixel of each side, not its mean: where the backdrop changes colour at
    # the subject's edge (a horizon), the mean of sky and ground matches neither, and a sliver of either stayed.
    near_bg = np.clip((_nearest(colours, outer, band, 2 * radius) - 12.0) / 12.0, 0.0, 1.0)
    near_fg = np.clip((_nearest(colours, core, band, 2 * radius) - 12.0) / 12.0, 0.0, 1.0)
    t = np.where(subject[band] > 0, np.maximum(t, near_bg), np.minimum(t, 1.0 - near_fg))
    # A pixel that matches one side closely and nothing on the other belongs to that side whatever the means say.
    t = t * (1.0 - (1.0 - near_bg) * near_fg)
    t = t + (1.0 - t) * (1.0 - near_fg) * near_bg
    confidence = np.clip(np.sqrt(spread) / 30.0, 0.0, 1.0) * (fg_weight > 1e-3) * (bg_weight > 1e-3)
    alpha[band] = confidence * t + (1.0 - confidence) * alpha[band]
    return alpha


def _fill(size: tuple[int, int], change: BackgroundChange, rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The replacement backdrop: one colour, or a top-to-bottom gradient between two colours."""
    width, height = size
    if not change.gradient:
        return np.broadcast_to(np.array(change.fill[0], np.uint8), (height, width, 3)).copy()
    if len(change.fill) >= 2:
        top, bottom = np.array(change.fill[0], np.float32), np.array(change.fill[1], np.float32)
    else:
        # Without two colours the gradient is made from the named one, or the old background's own colour.
        sample, outside = rgb[::4, ::4], background[::4, ::4] > 0.5
        base = (
            np.array(change.fill[0], np.float32)
            if change.fill
            else sample[outside].mean(axis=0).astype(np.float32)
            if outside.any()
            else sample.reshape(-1, 3).mean(axis=0).astype(np.float32)
        )
        top, bottom = base + (255.0 - base) * 0.75, base + (255.0 - base) * 0.15
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = np.clip(top * (1.0 - t) + bottom * t + 0.5, 0, 255).astype(np.uint8)
    return np.broadcast_to(column, (height, width, 3)).copy()


def _blur_outside(rgb: np.ndarray, background: np.ndarray, sigma: float) -> np.ndarray:
    """The background blurred by `sigma` without the subject's colours bleeding into it (normalised convolution).

    A wide blur is computed at a fraction of the size, where it costs a fraction as much and looks the same.
    """
    height, width = rgb.shape[:2]
    weight = (background > 0.5).astype(np.float32)
    shrink = int(min(4, max(1, sigma // 3)))
    size = (max(1, width // shrink), max(1, height // shrink))
    small_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(rgb.astype(np.float32) * weight[..., None], size, interpolation=cv2.INTER_AREA)
    spread = cv2.GaussianBlur(small_weight, (0, 0), sigma / shrink)
    blurred = cv2.GaussianBlur(small, (0, 0), sigma / shrink) / np.maximum(spread, 1e-3)[..., None]
    # Deep inside the subject there is no background to average; those pixels keep weight 0 anyway.
    out = cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def change_background(
    rgb: np.ndarray, boxes: Sequence[Box], change: BackgroundChange, strength: float
) -> tuple[np.ndarray, np.ndarray, str]:
    """The RGB uint8 image with its background changed; the weight used (0 = subject kept); where the subject was sought."""
    height, width = rgb.shape[:2]
    subject, where = subject_mask(rgb, boxes)
    weight = 1.0 - subject_alpha(rgb, subject)
    edited = rgb
    if change.edits:
        edited = apply_edits(edited, change.edits, strength)
    if change.blur:
        edited = _blur_outside(edited, weight, max(1.5, 0.012 * max(width, height) * strength))
    if change.fill or change.gradient:
        backdrop = _fill((width, height), change, rgb, weight)
        opacity = min(1.0, 0.7 + 0.3 * strength)
        edited = cv2.addWeighted(np.ascontiguousarray(edited), 1.0 - opacity, backdrop, opacity, 0.0)
    return edited, weight, where
