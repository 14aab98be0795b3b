"""Where the subject of a scene is: a selection, the reference's features found in it, or its main object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from churns_gql.imaging import Box, grab_cut
from churns_gql.providers.offline.cutout import Cutout

# Feature matching runs on copies at most this big, which keeps ORB well under 100 ms at 1024².
MATCH_SIDE = 768
# A homography needs this many RANSAC inliers before the reference counts as found in the scene.
MIN_INLIERS = 15
# The old subject is separated on a copy at most this big, in this many GrabCut rounds: its mask is only
# filled in and dilated, so a coarse one does (GrabCut's cost grows with pixels times rounds).
GRABCUT_SIDE = 256
GRABCUT_ROUNDS = 3


@dataclass
class Placement:
    """The subject's box in the scene, a 0/1 mask of the old subject's pixels, and how it was found."""

    box: Box
    old: np.ndarray
    how: str


def locate(scene: np.ndarray, cutout: Cutout, selected: Sequence[Box]) -> Placement:
    """The old subject: the object inside the selection, the reference's match, or the main object."""
    height, width = scene.shape[:2]
    if selected:
        region = (
            min(b[0] for b in selected),
            min(b[1] for b in selected),
            max(b[2] for b in selected),
            max(b[3] for b in selected),
        )
        return _object_in(scene, region, "the selected area", tight=False)
    found = match_features(scene, cutout)
    if found is not None:
        placement = _object_in(scene, _grow(found, 0.08, width, height), "the reference's features", tight=False)
        return Placement(box=found, old=placement.old, how=placement.how)
    cw, ch = round(0.8 * width), round(0.9 * height)
    centre = ((width - cw) // 2, (height - ch) // 2, (width + cw) // 2, (height + ch) // 2)
    return _object_in(scene, centre, "the main object", tight=True)


def match_features(scene: np.ndarray, cutout: Cutout) -> Box | None:
    """The box the reference's subject covers in the scene, found by ORB matches and a RANSAC homography."""
    homography, _ = homography_of(cutout.bgr, cutout.alpha > 0.5, scene)
    if homography is None:
        return None
    h, w = cutout.alpha.shape
    corners = cv2.perspectiveTransform(
        np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32).reshape(-1, 1, 2), homography
    )
    quad = corners.reshape(-1, 2)
    height, width = scene.shape[:2]
    area = cv2.contourArea(quad)
    if not cv2.isContourConvex(quad.astype(np.float32)) or not 0.002 * width * height <= area <= 0.8 * width * height:
        return None
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    box = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
    return box if box[2] > box[0] and box[3] > box[1] else None


def homography_of(pattern: np.ndarray, pattern_mask: np.ndarray, scene: np.ndarray) -> tuple[np.ndarray | None, int]:
    """The homography taking `pattern` (BGR, masked) into `scene`, and its RANSAC inlier count."""
    orb = cv2.ORB_create(nfeatures=1500)  # type: ignore[attr-defined]  # missing from OpenCV's stubs
    ps, pm = _small(pattern), _small(pattern_mask.astype(np.uint8) * 255)
    ss = _small(scene)
    kp1, d1 = orb.detectAndCompute(cv2.cvtColor(ps, cv2.COLOR_BGR2GRAY), pm)
    kp2, d2 = orb.detectAndCompute(cv2.cvtColor(ss, cv2.COLOR_BGR2GRAY), None)
    if d1 is None or d2 is None or len(kp1) < MIN_INLIERS or len(kp2) < MIN_INLIERS:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(d1, d2, k=2)
    # Lowe's ratio test keeps a match only when it is clearly better than the next best.
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0
    fp, fs = pattern.shape[1] / ps.shape[1], scene.shape[1] / ss.shape[1]
    src = np.array([kp1[m.queryIdx].pt for m in good], dtype=np.float32).reshape(-1, 1, 2) * fp
    dst = np.array([kp2[m.trainIdx].pt for m in good], dtype=np.float32).reshape(-1, 1, 2) * fs
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 5.0 * fs)
    count = int(inliers.sum()) if inliers is not None else 0
    return (homography if homography is not None and count >= MIN_INLIERS else None), count


def _small(image: np.ndarray) -> np.ndarray:
    """The image scaled down to at most MATCH_SIDE on its longest side."""
    h, w = image.shape[:2]
    scale = MATCH_SIDE / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def _grow(box: Box, fraction: float, width: int, height: int) -> Box:
    """`box` grown by `fraction` of its size on every side, inside the image."""
    dx, dy = round((box[2] - box[0]) * fraction), round((box[3] - box[1]) * fraction)
    return max(0, box[0] - dx), max(0, box[1] - dy), min(width, box[2] + dx), min(height, box[3] + dy)


def _object_in(scene: np.ndarray, region: Box, where: str, *, tight: bool) -> Placement:
    """The object GrabCut separates inside `region`; the whole region when it finds none of a sensible size."""
    height, width = scene.shape[:2]
    l, t, r, b = region
    old = np.zeros((height, width), np.uint8)
    # GrabCut needs background around the rectangle: work on the region plus a margin.
    L, T, R, B = _grow(region, 0.1, width, height)
    roi = scene[T:B, L:R]
    scale = min(1.0, GRABCUT_SIDE / max(roi.shape[:2]))
    small = cv2.resize(
        roi, (max(8, round(roi.shape[1] * scale)), max(8, round(roi.shape[0] * scale))), interpolation=cv2.INTER_AREA
    )
    rect = (
        round((l - L) * scale),
        round((t - T) * scale),
        max(2, round((r - l) * scale)),
        max(2, round((b - t) * scale)),
    )
    mask = np.zeros(small.shape[:2], np.uint8)
    try:
        grab_cut(small, mask, rect, GRABCUT_ROUNDS)
    except cv2.error:
        mask[:] = 0
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    fg = _largest(cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    share = fg.sum() / max(1, rect[2] * rect[3])
    if not (0.08 if tight else 0.05) <= share <= 0.95:
        old[t:b, l:r] = 1
        return Placement(box=region, old=old, how=f"{where} (no object could be told from its background)")
    full = cv2.resize(fg.astype(np.float32), (R - L, B - T), interpolation=cv2.INTER_LINEAR) >= 0.5
    old[T:B, L:R] = full
    old[:t], old[b:], old[:, :l], old[:, r:] = 0, 0, 0, 0
    ys, xs = np.nonzero(old)
    if not len(ys):
        old[t:b, l:r] = 1
        return Placement(box=region, old=old, how=where)
    return Placement(box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), old=old, how=where)


def _largest(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected part of a 0/1 mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    return (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
