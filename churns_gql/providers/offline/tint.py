"""Matching a quilted tile's colour to what it meets: the differences measured along its cut are applied to the
tile region by region, so a brick assembled from two sources of slightly different red reads as one brick.

Like a Poisson blend this shifts the tile towards its boundary's colours; unlike one it needs no solver and
never reads beyond the window (safe at the picture's edge), and it stops at the tile's own edges: a region of
the tile (a brick face, the ground between blades, one stripe of grain) is bounded by strong edges and takes
one offset, the mean difference measured where it meets the cut, so the red measured across a brick neither
tints the light mortar beside it nor fades into a gradient across the brick.
"""

from __future__ import annotations

import cv2
import numpy as np

# Per-channel differences above this are not matched: no shade of the same surface but a structure the cut could
# not avoid (mortar against brick) or a remnant of the removed thing beside the hole, which would spread.
OUTLIER = 48.0
# A change of more than this many levels per px (after a one-px blur) bounds a region: mortar against brick,
# a blade against the ground; fine grain and a wood stripe's gentle shading stay inside one region.
EDGE = 8.0
# Fewer samples than this say too little about a region's offset.
MIN_SAMPLES = 4


def correction(old: np.ndarray, new: np.ndarray, inside: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A float32 offset (window × 3) to add to `new` so each of its regions meets `old` along the boundary of
    `inside`, measured on `known` pixels within two px of that boundary. Zero for regions nothing was measured
    on."""
    ring = np.ones((5, 5), np.uint8)
    mask = inside.astype(np.uint8)
    near_cut = (cv2.dilate(mask, ring) != cv2.erode(mask, ring, borderType=cv2.BORDER_REPLICATE)) & known
    if not near_cut.any():
        return np.zeros_like(new)
    smooth = cv2.GaussianBlur(new, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    across = np.zeros(inside.shape, np.float32)
    across[:, :-1] = _largest(cv2.absdiff(smooth[:, 1:], smooth[:, :-1]))
    across[:-1] = np.maximum(across[:-1], _largest(cv2.absdiff(smooth[1:], smooth[:-1])))
    plain = (across <= EDGE).astype(np.uint8)
    count, labels = cv2.connectedComponents(plain, connectivity=4)
    difference = old - new
    sampled = near_cut & (plain > 0) & (_largest(np.abs(difference)) <= OUTLIER)
    at = labels[sampled]
    samples = np.bincount(at, minlength=count).astype(np.float32)
    offsets = np.stack(
        [np.bincount(at, weights=difference[..., c][sampled], minlength=count) for c in range(3)], axis=1
    ).astype(np.float32)
    offsets = np.where(samples[:, None] >= MIN_SAMPLES, offsets / np.maximum(samples, 1.0)[:, None], 0.0)
    offsets[0] = 0.0  # label 0 is the edges themselves
    offset = offsets[labels]
    # Edge pixels take their neighbouring regions' offsets, so a corrected brick has no rim of the old colour.
    weight = cv2.GaussianBlur(plain.astype(np.float32), (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    spread = cv2.GaussianBlur(offset, (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    spread /= np.maximum(weight, 1e-3)[..., None]
    return np.where(plain[..., None] > 0, offset, spread).astype(np.float32)


def _largest(values: np.ndarray) -> np.ndarray:
    """The largest of the three channels per pixel (numpy's reduction over a last axis of 3 is far slower)."""
    return np.maximum(np.maximum(values[..., 0], values[..., 1]), values[..., 2])
