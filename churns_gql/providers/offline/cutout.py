"""Cutting a reference photo's subject from its background, and matching its colour to a scene."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from churns_gql.imaging import grab_cut, has_alpha
from churns_gql.providers.base import ProviderError

# GrabCut runs on a copy at most this big: its cost grows with the pixel count, its mask is smooth anyway.
GRABCUT_SIDE = 320
# A border whose colours spread less than this (LAB units) is a plain studio backdrop.
PLAIN_SPREAD = 9.0


@dataclass
class Cutout:
    """The reference's subject, cropped to it: BGR pixels, an alpha in 0..1, and how it was cut."""

    bgr: np.ndarray
    alpha: np.ndarray
    how: str


def cut_out(reference: Image.Image) -> Cutout:
    """The subject of a reference photo: by its own alpha, a plain backdrop's colour, or GrabCut."""
    rgba = np.asarray(reference.convert("RGBA"))
    bgr = cv2.cvtColor(rgba[:, :, :3], cv2.COLOR_RGB2BGR)
    if has_alpha(reference) and (rgba[:, :, 3] < 250).any():
        mask, how = (rgba[:, :, 3] >= 128).astype(np.uint8), "its transparency"
        soft = rgba[:, :, 3].astype(np.float32) / 255.0
    else:
        mask, how = _backdrop_mask(bgr)
        # One pixel in from the edge drops the backdrop's tint that anti-aliasing mixed into the outline.
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8) * mask
    if mask.sum() < 0.01 * mask.size:
        raise ProviderError("bad_request", "No subject could be told apart from the reference image's background.")
    ys, xs = np.nonzero(mask)
    t, b, l, r = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Cutout(bgr=bgr[t:b, l:r].copy(), alpha=soft[t:b, l:r].copy(), how=how)


def _backdrop_mask(bgr: np.ndarray) -> tuple[np.ndarray, str]:
    """A 0/1 subject mask of a photo without alpha, and how it was found."""
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    edge = max(2, round(0.02 * min(h, w)))
    border = np.concatenate(
        [
            lab[:edge].reshape(-1, 3),
            lab[-edge:].reshape(-1, 3),
            lab[:, :edge].reshape(-1, 3),
            lab[:, -edge:].reshape(-1, 3),
        ]
    )
    backdrop = np.median(border, axis=0)
    spread = float(np.percentile(np.linalg.norm(border - backdrop, axis=1), 90))
    if spread <= PLAIN_SPREAD:
        distance = np.linalg.norm(lab - backdrop, axis=2)
        mask = (distance > max(10.0, 2.5 * spread)).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        how = "its plain backdrop's colour"
    else:
        mask, how = _grabcut(bgr), "GrabCut from its border"
    return _solid(mask), how


def _grabcut(bgr: np.ndarray) -> np.ndarray:
    """A 0/1 mask of the main object of a photo whose border is background, from GrabCut at low resolution."""
    h, w = bgr.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(bgr, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    inset = (max(1, round(0.04 * sw)), max(1, round(0.04 * sh)))
    mask = np.zeros((sh, sw), np.uint8)
    grab_cut(small, mask, (*inset, sw - 2 * inset[0], sh - 2 * inset[1]), 4)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    full = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    # Smoothing over about one low-resolution pixel turns the upscaled mask's stair steps into clean curves.
    if scale < 1:
        full = cv2.GaussianBlur(full, (0, 0), 0.5 / scale)
    return (full >= 0.5).astype(np.uint8)


def _solid(mask: np.ndarray) -> np.ndarray:
    """The mask's large connected parts with their holes filled (a label's backdrop-grey print stays in)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.nonzero(areas >= 0.05 * areas.max())[0]
    solid = np.isin(labels, keep).astype(np.uint8)
    # Flood the outside from a padded corner: whatever it cannot reach is inside the object.
    padded = np.pad(solid, 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    return (solid | (flood[1:-1, 1:-1] == 0)).astype(np.uint8)


def match_colour(cutout: Cutout, scene_bgr: np.ndarray, around: np.ndarray, amount: float) -> np.ndarray:
    """The cut-out's BGR moved `amount` (0..1) of the way to the LAB mean and spread of the scene `around` it."""
    if amount <= 0 or not around.any():
        return cutout.bgr
    lab = cv2.cvtColor(cutout.bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    solid = cutout.alpha > 0.5
    source = lab[solid] if solid.any() else lab.reshape(-1, 3)
    target = cv2.cvtColor(scene_bgr, cv2.COLOR_BGR2LAB)[around > 0].astype(np.float32)
    mu_s, sd_s = source.mean(axis=0), source.std(axis=0) + 1e-3
    mu_t, sd_t = target.mean(axis=0), target.std(axis=0) + 1e-3
    gain = 1.0 + amount * (np.clip(sd_t / sd_s, 0.5, 2.0) - 1.0)
    moved = (lab - mu_s) * gain + mu_s + amount * (mu_t - mu_s)
    return cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
