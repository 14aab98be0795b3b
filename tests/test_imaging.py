"""The shared imaging both providers use: rectangles to masks, feathering proportional to size, exact composites."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from churns_gql.imaging import (
    Rect,
    composite,
    feather_px,
    feathered_mask,
    has_alpha,
    pixel_boxes,
    rect_mask,
    split_alpha,
)

SIZE = (400, 300)


def _band_width(weight: np.ndarray, row: int, right: int) -> int:
    """How many pixels right of a box's edge, along `row`, the weight stays above zero."""
    return int((weight[row, right:] > 0).sum())


def test_rect_mask_is_the_union_of_the_rectangles_and_empty_ones_are_dropped():
    """Two rectangles become one 0/255 mask; a rectangle of no size, or wholly outside, adds nothing."""
    rects = [Rect(0.1, 0.1, 0.2, 0.2), Rect(0.5, 0.5, 0.25, 0.3), Rect(0.3, 0.3, 0.0, 0.2)]
    mask = rect_mask(SIZE, rects)
    assert set(np.unique(mask)) == {0, 255}
    assert pixel_boxes(SIZE, rects) == [(40, 30, 120, 90), (200, 150, 300, 240)]
    assert int((mask > 0).sum()) == 80 * 60 + 100 * 90


def test_feathered_mask_is_one_inside_zero_beyond_its_band_and_the_band_grows_with_the_rectangle():
    """Inside: exactly 1. The falloff outside is smooth and monotone, exactly 0 beyond feather_px, and a
    rectangle twice the size has a band about twice as wide."""
    small, large = Rect(0.1, 0.1, 0.15, 0.2), Rect(0.4, 0.2, 0.3, 0.4)
    for rect in (small, large):
        box = pixel_boxes(SIZE, [rect])[0]
        weight = feathered_mask(SIZE, [rect])
        assert (weight[box[1] : box[3], box[0] : box[2]] == 1.0).all()
        row = (box[1] + box[3]) // 2
        ramp = weight[row, box[2] : box[2] + feather_px(box) + 2]
        assert (np.diff(ramp) <= 0).all() and ramp[-1] == 0.0
        assert _band_width(weight, row, box[2]) <= feather_px(box)
    small_box, large_box = pixel_boxes(SIZE, [small])[0], pixel_boxes(SIZE, [large])[0]
    ratio = feather_px(large_box) / feather_px(small_box)
    assert 1.7 <= ratio <= 2.3, ratio


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_composite_keeps_every_zero_weight_pixel_bit_identical(mode):
    """Outside the weight the parent's bytes are kept exactly, whatever the arithmetic would round to; inside, the
    edit shows; the mode and size are the parent's."""
    rng = np.random.default_rng(4)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    shape = (SIZE[1], SIZE[0], channels) if channels > 1 else (SIZE[1], SIZE[0])
    parent = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    edited = Image.new(mode, SIZE, 200 if mode == "L" else (200,) * channels)
    weight = feathered_mask(SIZE, [Rect(0.2, 0.2, 0.3, 0.3)])
    out = composite(parent, edited, weight)
    assert out.mode == mode and out.size == SIZE
    zero = weight <= 0
    assert np.array_equal(np.asarray(out)[zero], np.asarray(parent)[zero])
    full = weight >= 1
    assert (np.asarray(out)[full] == 200).all()
    with pytest.raises(ValueError):
        composite(parent, edited.resize((10, 10)), weight)


def test_alpha_detection_and_split():
    """RGBA, LA and palette images with a transparent index carry alpha; RGB does not; split gives RGB + alpha."""
    palette = Image.new("P", (4, 4))
    palette.info["transparency"] = 0
    assert has_alpha(Image.new("RGBA", (4, 4))) and has_alpha(Image.new("LA", (4, 4))) and has_alpha(palette)
    assert not has_alpha(Image.new("RGB", (4, 4)))
    rgb, alpha = split_alpha(Image.new("RGBA", (4, 4), (1, 2, 3, 9)))
    assert rgb.mode == "RGB" and alpha is not None and alpha.getpixel((0, 0)) == 9
    assert split_alpha(Image.new("RGB", (4, 4)))[1] is None
