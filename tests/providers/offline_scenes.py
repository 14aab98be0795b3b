"""Synthetic scenes with known ground truth for the offline editor's tests, and the measures they use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from churns_gql.imaging import Box, Rect

ARTIFACTS = Path(os.environ.get("CHURNS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


@dataclass
class Scene:
    """A picture, the same picture without the removable logo, and where things are."""

    image: Image.Image
    clean: Image.Image  # the true background under the logo
    subject: Box  # the product in the middle
    logo: Box  # the logo on the textured ground
    sky: Box  # a smooth area at the top
    product: np.ndarray  # bool H×W, True on the product's pixels

    def rect(self, box: Box) -> Rect:
        """A pixel box as a fractional Rect."""
        width, height = self.image.size
        return Rect(box[0] / width, box[1] / height, (box[2] - box[0]) / width, (box[3] - box[1]) / height)


def scene(width: int = 512, height: int = 384, seed: int = 3) -> Scene:
    """A sky gradient over textured ground, a product in the middle and a logo on the ground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = round(height * 0.42)
    sky = np.stack([120 + 60 * y / horizon, 170 + 50 * y / horizon, np.full_like(y, 235)], -1)
    ground = np.stack([150 - 40 * y / height + 12 * np.sin(x / 23.0), 120 - 30 * y / height, 80 + 20 * x / width], -1)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 0.8) * 9.0
    picture = np.where(y[..., None] < horizon, sky + grain * 0.25, ground + grain)
    clean = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    image = clean.copy()
    # The product: a dark bottle shape with a lighter label, standing across the horizon.
    s = min(width, height)
    cx = width // 2
    body = (cx - round(0.09 * s), round(0.30 * height), cx + round(0.09 * s), round(0.86 * height))
    cv2.rectangle(image, body[:2], (body[2], body[3]), (40, 70, 50), -1)
    cv2.rectangle(
        image, (cx - round(0.035 * s), round(0.16 * height)), (cx + round(0.035 * s), body[1]), (40, 70, 50), -1
    )
    cv2.rectangle(image, (body[0], round(0.5 * height)), (body[2], round(0.66 * height)), (230, 220, 190), -1)
    subject = (body[0], round(0.16 * height), body[2], body[3])
    product = np.abs(image.astype(np.int16) - clean.astype(np.int16)).max(axis=2) > 0
    # The logo on the ground, lower left: a yellow disc and white lettering.
    lx, ly = round(0.10 * width), round(0.66 * height)
    cv2.circle(image, (lx + round(0.04 * s), ly + round(0.07 * s)), round(0.04 * s), (250, 215, 30), -1)
    cv2.putText(
        image,
        "LOGO",
        (lx + round(0.09 * s), ly + round(0.1 * s)),
        cv2.FONT_HERSHEY_SIMPLEX,
        s / 420,
        (250, 250, 250),
        max(2, s // 160),
        cv2.LINE_AA,
    )
    logo = (lx - 6, ly - 6, lx + round(0.30 * s), ly + round(0.14 * s))
    sky_box = (round(0.05 * width), round(0.04 * height), round(0.35 * width), round(0.3 * height))
    return Scene(Image.fromarray(image, "RGB"), Image.fromarray(clean, "RGB"), subject, logo, sky_box, product)


def save(name: str, *images: Image.Image) -> Path:
    """Save images side by side as test-artifacts/<name>.png (to be looked at) and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = sum(im.width for im in images) + 8 * (len(images) - 1)
    sheet = Image.new("RGB", (width, max(im.height for im in images)), (255, 255, 255))
    left = 0
    for im in images:
        sheet.paste(im.convert("RGB"), (left, 0))
        left += im.width + 8
    path = ARTIFACTS / f"{name}.png"
    sheet.save(path)
    return path


def lab(image: Image.Image) -> np.ndarray:
    """The image as float32 LAB (L 0..100)."""
    return cv2.cvtColor(np.asarray(image.convert("RGB"), np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def psnr(a: Image.Image, b: Image.Image, box: Box) -> float:
    """Peak signal-to-noise ratio (dB) of a against b inside box."""
    left, top, right, bottom = box
    da = np.asarray(a.convert("RGB"), np.float64)[top:bottom, left:right]
    db = np.asarray(b.convert("RGB"), np.float64)[top:bottom, left:right]
    return float(10 * np.log10(255.0**2 / max(1e-9, np.mean((da - db) ** 2))))


def identical_outside(a: Image.Image, b: Image.Image, box: Box, band: int) -> bool:
    """Whether a and b are byte-identical everywhere outside box grown by band pixels."""
    left, top, right, bottom = box
    keep = np.ones((a.height, a.width), bool)
    keep[max(0, top - band) : bottom + band, max(0, left - band) : right + band] = False
    return bool((np.asarray(a)[keep] == np.asarray(b)[keep]).all())


def border_step(channel: np.ndarray, box: Box, band: int) -> tuple[float, float]:
    """Mean |gradient| across the box's edges (over the band around them), and the same measure elsewhere.

    The gradient is taken along the normal of each edge: horizontal across the left and right edges,
    vertical across the top and bottom. "Elsewhere" is the same derivative at the same rows/columns
    but well away from the edge, so the image's own texture sets the bar.
    """
    gx = np.abs(np.diff(channel, axis=1))
    gy = np.abs(np.diff(channel, axis=0))
    left, top, right, bottom = box
    near, far = [], []
    for col in (left, right):
        near.append(gx[top:bottom, max(0, col - band) : col + band].mean())
        far.append(gx[top:bottom, max(0, col - 4 * band) : max(1, col - 3 * band)].mean())
    for row in (top, bottom):
        if 0 < row < channel.shape[0] - 1:
            near.append(gy[max(0, row - band) : row + band, left:right].mean())
            far.append(gy[max(0, row - 4 * band) : max(1, row - 3 * band), left:right].mean())
    return float(np.mean(near)), float(np.mean(far))


def bricks(width: int = 512, height: int = 384, seed: int = 1) -> np.ndarray:
    """A brick wall (RGB uint8): bricks of varied red in running bond, light mortar, fine noise."""
    rng = np.random.default_rng(seed)
    wall = np.full((height, width, 3), (200, 200, 195), np.float32)
    course, length = 28, 64
    for row in range(height // course + 1):
        offset = (row % 2) * length // 2
        for col in range(-1, width // length + 2):
            colour = tuple(float(v) for v in np.array((150, 60, 45)) + rng.integers(-20, 20, 3))
            x, y = col * length + offset + 2, row * course + 2
            cv2.rectangle(wall, (x, y), (x + length - 5, y + course - 5), colour, -1)
    return np.clip(wall + rng.normal(0, 6, (height, width, 1)), 0, 255).astype(np.uint8)


def grass(width: int = 512, height: int = 384, seed: int = 2) -> np.ndarray:
    """A lawn (RGB uint8): thousands of thin blades of varied green over a green ground."""
    rng = np.random.default_rng(seed)
    lawn = np.full((height, width, 3), (60, 120, 40), np.float32)
    for _ in range(width * height // 50):
        x, y, length = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(6, 18))
        colour = tuple(float(v) for v in np.array((60, 130, 40)) + rng.normal(0, 25, 3))
        cv2.line(lawn, (x, y), (x + int(rng.integers(-4, 5)), y - length), colour, 1)
    return np.clip(lawn, 0, 255).astype(np.uint8)
