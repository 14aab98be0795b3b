"""Offline SUBJECT repair on synthetic scenes: the reference stands where the old subject stood, cleanly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from churns_gql.imaging import Rect
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline.subject import repair_subject
from tests.providers.offline_text_scenes import (
    REFERENCE_BACKGROUND,
    busy_reference_shot,
    matched_scene,
    reference_shot,
    save,
    shelf_scene,
)

Box = tuple[int, int, int, int]
# A found reference needs at least this many SIFT matches that agree on one homography.
MIN_INLIERS = 25


def find_reference(result: Image.Image) -> tuple[np.ndarray, int]:
    """Where the reference product is in `result`: its mask there (by SIFT + RANSAC homography) and the inliers."""
    reference = np.asarray(reference_shot(alpha=True))
    ref_grey = cv2.cvtColor(reference[:, :, :3], cv2.COLOR_RGB2GRAY)
    scene_grey = cv2.cvtColor(np.asarray(result.convert("RGB")), cv2.COLOR_RGB2GRAY)
    sift = cv2.SIFT_create()
    kp1, d1 = sift.detectAndCompute(ref_grey, reference[:, :, 3])
    kp2, d2 = sift.detectAndCompute(scene_grey, None)
    pairs = cv2.BFMatcher().knnMatch(d1, d2, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    assert len(good) >= MIN_INLIERS, f"only {len(good)} matches"
    src = np.float32([kp1[m.queryIdx].pt for m in good]).reshape(-1, 1, 2)
    dst = np.float32([kp2[m.trainIdx].pt for m in good]).reshape(-1, 1, 2)
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 4.0)
    mask = cv2.warpPerspective(reference[:, :, 3], homography, result.size, flags=cv2.INTER_NEAREST)
    return (mask > 0).astype(np.uint8), int(inliers.sum())


def bbox(mask: np.ndarray) -> Box:
    """The bounding box of a mask's pixels."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def inside(inner: Box, outer: Box, slack: int) -> bool:
    """Whether `inner` lies within `outer` grown by `slack` pixels."""
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def greenish(pixels: np.ndarray) -> np.ndarray:
    """Which RGB pixels carry the old green bottle's colour (the warm scene never does)."""
    p = pixels.astype(int)
    return p[..., 1] > p[..., 0] + 20


def backdrop_grey(pixels: np.ndarray) -> np.ndarray:
    """Which RGB pixels are the reference photo's studio grey."""
    return np.linalg.norm(pixels.astype(float) - REFERENCE_BACKGROUND, axis=-1) < 22


def check_replaced(parent: Image.Image, result: Image.Image, old_box: Box, name: str) -> np.ndarray:
    """The proof: the reference is found at the old subject's place, with no backdrop or old subject around it,
    and every pixel outside the placement area is the parent's."""
    save(result, name)
    assert result.size == parent.size and result.mode == parent.mode
    placed, inliers = find_reference(result)
    assert inliers >= MIN_INLIERS
    new_box = bbox(placed)
    slack = round(0.02 * parent.width)
    assert inside(new_box, old_box, slack), (new_box, old_box)
    rgb = np.asarray(result.convert("RGB"))
    ring = cv2.dilate(placed, np.ones((15, 15), np.uint8)) & (1 - cv2.dilate(placed, np.ones((5, 5), np.uint8)))
    assert backdrop_grey(rgb[ring > 0]).mean() < 0.005
    assert greenish(rgb[ring > 0]).mean() < 0.005
    # Nothing of the old subject is left where the new one does not cover it.
    l, t, r, b = old_box
    around = np.zeros_like(placed)
    around[t:b, l:r] = 1
    around &= 1 - cv2.dilate(placed, np.ones((5, 5), np.uint8))
    assert greenish(rgb[around > 0]).mean() < 0.005
    # Outside the old subject's box (and a margin for its outline) the parent's pixels are untouched.
    diff = np.any(np.asarray(parent) != np.asarray(result), axis=-1)
    diff[max(0, t - slack) : b + slack, max(0, l - slack) : r + slack] = False
    assert int(diff.sum()) == 0
    return placed


def replace(image: Image.Image, reference: Image.Image | None, strength: float = 1.0, **fields):
    """Run the SUBJECT repair."""
    return repair_subject(EditRequest(kind="SUBJECT", image=image, reference=reference, **fields), strength)


def test_reference_on_a_studio_backdrop_replaces_the_main_object():
    """No selection, no shared features: the main object is found and replaced, backdrop cut away."""
    parent, old_box = shelf_scene()
    result, notes = replace(parent, reference_shot())
    check_replaced(parent, result, old_box, "subject_shelf")
    assert "the main object" in notes and "backdrop" in notes


def test_reference_on_a_busy_backdrop_is_cut_out_by_grabcut():
    """A reference shot on a noisy gradient is cut from it: none of the blue backdrop comes along."""
    parent, old_box = shelf_scene()
    result, notes = replace(parent, busy_reference_shot())
    placed = check_replaced(parent, result, old_box, "subject_busy_backdrop")
    assert "GrabCut" in notes
    rgb = np.asarray(result.convert("RGB")).astype(int)
    ring = cv2.dilate(placed, np.ones((11, 11), np.uint8)) & (1 - placed)
    bluish = rgb[..., 2] > rgb[..., 0] + 25
    assert bluish[ring > 0].mean() < 0.005


def test_reference_with_alpha_goes_into_the_selected_area():
    """A selection around the old bottle places the reference there, cut out by its own transparency."""
    parent, old_box = shelf_scene(768, seed=4)
    l, t, r, b = old_box
    rect = Rect((l - 30) / 768, (t - 30) / 768, (r - l + 60) / 768, (b - t + 60) / 768)
    result, notes = replace(parent, reference_shot(alpha=True), rects=[rect])
    check_replaced(parent, result, old_box, "subject_selected")
    assert "the selected area" in notes and "transparency" in notes


def test_the_old_rendering_of_the_product_is_found_by_its_features():
    """When the scene shows a poor rendering of the product off-centre, its features say where it is."""
    parent, old_box = matched_scene()
    result, notes = replace(parent, reference_shot())
    placed = check_replaced(parent, result, old_box, "subject_matched")
    assert "features" in notes
    # The product is sharper and brighter than the dull rendering it replaced.
    rgb = np.asarray(result.convert("RGB")).astype(float)
    before = np.asarray(parent.convert("RGB")).astype(float)
    assert rgb[placed > 0].mean() > before[placed > 0].mean() + 5


def test_rgba_scene_keeps_its_alpha_and_strength_moves_colours_towards_the_scene():
    """An RGBA parent comes back RGBA with the same alpha; stronger creativity matches colours more."""
    parent, old_box = shelf_scene(512, seed=5)
    alpha = Image.new("L", parent.size, 255)
    alpha.paste(128, (0, 0, 100, 100))
    rgba = parent.copy()
    rgba.putalpha(alpha)
    weak, _ = replace(rgba, reference_shot(), strength=0.5)
    strong, _ = replace(rgba, reference_shot(), strength=1.4)
    assert weak.mode == "RGBA" and np.array_equal(np.asarray(weak)[:, :, 3], np.asarray(alpha))
    placed, _ = find_reference(weak)
    scene_lab = cv2.cvtColor(np.asarray(parent), cv2.COLOR_RGB2LAB)[placed == 0].mean(axis=0)

    def distance(image: Image.Image) -> float:
        """How far the placed product's mean LAB colour is from the scene's."""
        lab = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2LAB)[placed > 0].mean(axis=0)
        return float(np.linalg.norm(lab - scene_lab))

    assert distance(strong) < distance(weak) - 2


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (None, "upload a reference"),
        (Image.new("RGB", (0, 0)), "empty"),
        (Image.new("RGB", (64, 64), (128, 128, 132)), "No subject could be told apart"),
    ],
)
def test_without_a_usable_reference_it_fails_clearly(reference, message):
    """No reference, an empty one, or one that is all backdrop: a clear bad_request, not an unchanged image."""
    with pytest.raises(ProviderError, match=message) as caught:
        replace(shelf_scene(256)[0], reference)
    assert caught.value.kind == "bad_request"
