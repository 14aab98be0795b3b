"""Filling a hole from its surroundings: the fill carries the surround's grain, and touches nothing outside."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from churns_gql.providers.offline.fill import fill
from tests.providers.offline_text_scenes import known_font, save, texture


def _grain(bgr: np.ndarray, where: np.ndarray) -> float:
    """The spread of fine detail (what a small blur takes out) over the pixels `where`."""
    image = bgr.astype(np.float32)
    return float((image - cv2.GaussianBlur(image, (0, 0), 2))[where].std())


def _lettered(font: ImageFont.FreeTypeFont) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grainy wavy texture, the same with a line of lettering on it (BGR), and the lettering's dilated mask."""
    clean = np.ascontiguousarray(texture(900, 300, seed=5)[:, :, ::-1])
    image = Image.fromarray(clean[:, :, ::-1].copy())
    ImageDraw.Draw(image).text((60, 100), "GRAND OPENNING", font=font, fill=(250, 240, 60))
    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    hole = (np.abs(bgr.astype(int) - clean.astype(int)).sum(axis=2) > 0).astype(np.uint8)
    return clean, bgr, cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))) * 255


def test_a_fill_on_a_grainy_texture_keeps_the_grain_and_leaves_the_rest_alone():
    """Where no nearby patch fits a bending pattern, the diffused fill still gets the surround's grain, not a
    waxy smear in the shape of the old letters."""
    clean, bgr, hole = _lettered(known_font(72))
    out = fill(bgr, hole, radius=5)
    save(Image.fromarray(out[:, :, ::-1]), "fill_grainy_texture")
    inside = hole > 0
    assert np.array_equal(out[~inside], bgr[~inside])
    assert _grain(out, inside) >= 0.75 * _grain(clean, inside)
    # The colours still come from the surround: close to what was under the letters.
    assert float(np.abs(out.astype(int) - clean.astype(int))[inside].mean()) < 10


def test_a_fill_on_a_flat_colour_stays_flat():
    """No grain is invented where the surround has none (a banner, a studio wall)."""
    flat = np.full((200, 400, 3), (40, 90, 200), np.uint8)
    hole = np.zeros((200, 400), np.uint8)
    cv2.putText(hole, "SALE", (60, 140), cv2.FONT_HERSHEY_SIMPLEX, 3, 255, 12)
    out = fill(flat, hole)
    # Within the seam correction's rounding of the flat colour, and no speckle.
    assert int(np.abs(out.astype(int) - flat.astype(int)).max()) <= 3
    assert _grain(out, hole > 0) < 1
