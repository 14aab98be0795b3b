"""Quilting's seams: tiles meet along minimum-error cuts with their colours matched, so a removal over bricks shows
neither tile-sized colour blocks inside bricks nor the outline of the hole, and the same holds on grass and wood."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from churns_gql.imaging import feather_px
from churns_gql.providers.offline.inpaint import _ring, remove, structure
from churns_gql.providers.offline.seams import cut_mask, min_paths
from churns_gql.providers.offline.tint import correction
from tests.providers.offline_scenes import border_step, bricks, grass, identical_outside, save

Box = tuple[int, int, int, int]


def wood(width: int = 512, height: int = 384, seed: int = 4) -> np.ndarray:
    """A warm wood grain (RGB uint8): wavy stripes of shading with fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = 14 * np.sin(x / 9.0 + 3 * np.sin(y / 57.0)) + 8 * np.sin(x / 3.1 + y / 40.0)
    base = 120 + 50 * y / height + grain + rng.normal(0, 5, (height, width))
    return np.clip(np.stack([base * 1.15, base * 0.92, base * 0.68], axis=2), 0, 255).astype(np.uint8)


def _with_logo(clean: np.ndarray, box: Box) -> np.ndarray:
    """`clean` with a yellow disc and blue lettering inside `box`."""
    image = clean.copy()
    left, top, right, bottom = box
    cv2.circle(
        image, ((left + right) // 2, (top + bottom) // 2), min(right - left, bottom - top) // 3, (240, 240, 20), -1
    )
    thickness = max(2, (right - left) // 40)
    cv2.putText(image, "LOGO", (left + 10, (top + bottom) // 2 + 10), 0, (right - left) / 150, (20, 20, 200), thickness)
    return image


def _with_sticker(clean: np.ndarray, box: Box) -> np.ndarray:
    """`clean` with `box` covered by a flat yellow sticker: the whole box is removed, so its edge is the hole's."""
    image = clean.copy()
    image[box[1] : box[3], box[0] : box[2]] = (240, 240, 20)
    return image


def _inside(box: Box, shape: tuple[int, ...]) -> np.ndarray:
    """A bool mask of `box`."""
    mask = np.zeros(shape[:2], bool)
    mask[box[1] : box[3], box[0] : box[2]] = True
    return mask


def _brick_spreads(rgb: np.ndarray, hole: np.ndarray, size: int) -> dict[str, list[float]]:
    """The colour spread of every brick face (95th minus 5th percentile of the lightly blurred colour, largest
    channel) found by the picture's own mortar, grouped as inside the hole, across its border, or around it.

    A brick pasted together from two sources of different red, or with a stray piece of mortar, spreads wide; a
    face merged with its neighbour through a broken joint counts as spread without bound."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    mortar = cv2.morphologyEx((grey > 165).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    # Wide enough that the blurred mortar edge does not read as colour inside the face.
    mortar = cv2.dilate(mortar, np.ones((4 * size + 5, 4 * size + 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mortar == 0).astype(np.uint8), connectivity=4)
    smooth = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.5)
    near = cv2.dilate(hole.astype(np.uint8), np.ones((121 * size, 121 * size), np.uint8)) > 0
    face = 56 * 20 * size * size
    groups: dict[str, list[float]] = {"inside": [], "border": [], "around": []}
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if x == 0 or y == 0 or x + w >= rgb.shape[1] or y + h >= rgb.shape[0]:
            continue  # cut off by the picture's edge: not a whole face
        member = labels[y : y + h, x : x + w] == index
        pixels = smooth[y : y + h, x : x + w][member]
        spread = float((np.percentile(pixels, 95, axis=0) - np.percentile(pixels, 5, axis=0)).max())
        share = float(hole[y : y + h, x : x + w][member].mean())
        value = spread if area < 2 * face else float("inf")
        if share > 0.9:
            groups["inside"].append(value)
        elif share > 0.1:
            groups["border"].append(value)
        elif near[y : y + h, x : x + w].any():
            groups["around"].append(value)
    return groups


def _large_wall() -> np.ndarray:
    """A 1024 px brick wall (bricks twice the test scenes' size)."""
    return cv2.resize(bricks(512, 512), (1024, 1024), interpolation=cv2.INTER_NEAREST)


BRICK_SCENES = {
    # name: (wall, box, brick size factor, paint over it)
    "logo": (lambda: bricks(), (180, 130, 330, 250), 1, _with_logo),
    "edge": (lambda: bricks(), (0, 120, 200, 300), 1, _with_logo),
    "large": (_large_wall, (220, 200, 800, 780), 2, _with_sticker),
    # 37 % of the picture, against its left and bottom edges, where the planning scale does not divide the rest.
    "large_corner": (_large_wall, (0, 380, 600, 1024), 2, _with_sticker),
}


@pytest.mark.parametrize("name", list(BRICK_SCENES))
def test_quilted_bricks_are_each_one_colour_and_the_hole_leaves_no_outline(name):
    """Every brick face inside the fill, and every one across the hole's border, is as even in colour as the
    wall's own (within 1.5× their mean spread); mortar-level structure is kept; nothing outside the box and its
    feather band changes. Tiles pasted with straight blended overlaps put two or three reds into one brick: the
    spread inside was 3.0× the wall's (logo) and 3.6× (a hole at the picture's edge, 1.7× across its border),
    and in a 580 px hole in a 1024 px wall (32 % of the picture) 2.6× with faces merged by broken joints; with
    cuts and matched colours all are ≤ 1.2×. A hole against the bottom edge kept its last rows (the planning
    region was rounded down to whole planning pixels), a yellow strip of the sticker."""
    wall, box, size, paint = BRICK_SCENES[name]
    clean = wall()
    image = paint(clean, box)
    result, _hole, _share, method = remove(image, [box], 1.0)
    save(f"quilt_seams_bricks_{name}", Image.fromarray(image), Image.fromarray(result), Image.fromarray(clean))
    assert method == "quilted from nearby patches"
    inside = _inside(box, image.shape)
    natural = _brick_spreads(clean, inside, size)["around"]
    found = _brick_spreads(result, inside, size)
    assert len(found["inside"]) >= 4 and len(natural) >= 10
    assert np.mean(found["inside"]) <= 1.5 * np.mean(natural)
    assert np.mean(found["border"]) <= 1.5 * np.mean(natural)
    assert structure(result, inside) >= 0.6 * structure(clean, _ring(inside.astype(np.uint8), 16))
    yellow = (result[..., 0] > 200) & (result[..., 1] > 200) & (result[..., 2] < 80)
    assert not yellow.any()
    assert identical_outside(Image.fromarray(result), Image.fromarray(image), box, feather_px(box))


@pytest.mark.parametrize("name", ["grass", "wood"])
def test_a_quilted_lawn_or_grain_meets_the_picture_without_an_outline(name):
    """Where a whole box is removed, the step across its edge (mean gradient over 4 px either side, per channel)
    stays within 1.5× the same picture's gradient further out, and the fill keeps the surround's structure and
    fine texture. Straight-pasted tiles already held this on these two (grass 1.18×, wood 0.99×, now 1.03× and
    1.0×); it guards the cuts and the colour match, which were tuned on bricks, against smearing or seaming them."""
    clean = {"grass": grass, "wood": wood}[name]()
    box = (150, 110, 350, 270)
    image = _with_sticker(clean, box)
    result, _hole, share, method = remove(image, [box], 1.0)
    save(f"quilt_seams_{name}", Image.fromarray(image), Image.fromarray(result), Image.fromarray(clean))
    assert method == "quilted from nearby patches" and share == 1.0
    for channel in range(3):
        near, far = border_step(cv2.GaussianBlur(result[..., channel].astype(np.float32), (0, 0), 1.0), box, 4)
        assert near <= 1.5 * far, f"channel {channel}: {near:.2f} across the edge against {far:.2f}"
    inside = _inside(box, image.shape)
    ring = _ring(inside.astype(np.uint8), 16)
    assert structure(result, inside) >= 0.6 * structure(clean, ring)
    # Fine texture is kept too, not smoothed by the blend along the cuts (nor roughened by seams).
    grey, original = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY), cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)
    detail = np.abs(np.diff(grey.astype(np.float32), axis=1))
    reference = np.abs(np.diff(original.astype(np.float32), axis=1))
    assert 0.67 <= detail[inside[:, 1:]].mean() / reference[ring[:, 1:]].mean() <= 1.5


def test_min_paths_follows_the_cheapest_valley_moving_one_column_a_row():
    """Two cost surfaces at once: each path found is the valley drawn into it, which wanders a column a row."""
    rows, cols = 30, 9
    valley = np.clip(np.round(4 + 3 * np.sin(np.arange(rows) / 4.0)), 0, cols - 1).astype(int)
    first = np.full((rows, cols), 10.0)
    first[np.arange(rows), valley] = 0.0
    second = np.full((rows, cols), 10.0)
    second[:, 2] = 0.0
    paths = min_paths(np.stack([first, second]))
    assert np.array_equal(paths[0], valley)
    assert np.array_equal(paths[1], np.full(rows, 2))
    assert np.abs(np.diff(paths, axis=1)).max() <= 1


def test_a_cut_runs_where_old_and_new_agree_covers_the_unknown_and_spares_the_fixed():
    """Old and new agree only along a wavy line in the left strip: the cut follows it. Unknown pixels are always
    covered and fixed ones never, even where that means leaving the path."""
    rng = np.random.default_rng(5)
    side = 40
    old = rng.uniform(0, 255, (side, side, 3)).astype(np.float32)
    new = rng.uniform(0, 255, (side, side, 3)).astype(np.float32)
    line = (6 + np.round(3 * np.sin(np.arange(side) / 5.0))).astype(int)
    new[np.arange(side), line] = old[np.arange(side), line]
    unknown = np.zeros((side, side), bool)
    unknown[:, 12:] = True
    fixed = np.zeros((side, side), bool)
    fixed[:, :2] = True
    fixed[0:3, 20:25] = True  # a fixed pixel inside the unknown part wins over it
    unknown[0:3, 20:25] = False
    inside = cut_mask(old, new, unknown, fixed, 12)
    assert (inside[unknown]).all() and not inside[fixed].any()
    # Away from the top and bottom strips, which get cuts of their own through the same changeable pixels.
    middle = slice(12, side - 12)
    assert np.array_equal(inside[middle, :12].argmax(axis=1), line[middle])


def test_the_colour_match_shifts_each_region_by_its_own_measured_difference():
    """A tile of two regions (a red face over light mortar) that meets a redder face along its cut: the face is
    shifted by the measured difference throughout, the mortar (whose samples agree) not at all."""
    side = 40
    new = np.zeros((side, side, 3), np.float32)
    new[:] = (150, 60, 45)
    new[30:] = (200, 200, 195)
    old = new.copy()
    old[:30] += (15, -5, 0)
    inside = np.zeros((side, side), bool)
    inside[:, 10:] = True
    offset = correction(old, new, inside, np.ones((side, side), bool))
    assert np.allclose(offset[5:25, 10:], (15, -5, 0), atol=0.5)
    assert np.allclose(offset[33:, 10:], 0, atol=0.5)
