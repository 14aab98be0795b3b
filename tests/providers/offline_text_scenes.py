"""Synthetic scenes for the offline TEXT and SUBJECT tests: textured backgrounds, a bottle, lettering."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ARTIFACTS = Path(os.environ.get("CHURNS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def save(image: Image.Image, name: str) -> Path:
    """Keep a result as a PNG under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    image.save(path)
    return path


def known_font(size: int) -> ImageFont.FreeTypeFont:
    """The lettering's known font: DejaVu Sans Bold where installed, else Pillow's bundled font."""
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A warm, wood-like RGB uint8 texture: grain stripes, a soft gradient and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = 14 * np.sin(x / 9.0 + 3 * np.sin(y / 57.0)) + 8 * np.sin(x / 3.1 + y / 40.0)
    base = 120 + 50 * y / height + grain + rng.normal(0, 5, (height, width))
    rgb = np.stack([base * 1.15, base * 0.92, base * 0.68], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def poster(
    width: int = 1024, height: int = 1024, headline: str = "NEW FLAVER", footer: str = "Limited offer", seed: int = 0
) -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """A textured poster with a centred headline and a footer; and each text's ink box."""
    image = Image.fromarray(texture(width, height, seed))
    draw = ImageDraw.Draw(image)
    boxes = {}
    for name, text, size, y, fill in (
        ("headline", headline, round(0.085 * height), round(0.09 * height), (250, 236, 60)),
        ("footer", footer, round(0.045 * height), round(0.88 * height), (255, 255, 255)),
    ):
        face = known_font(size)
        l, t, r, b = draw.textbbox((0, 0), text, font=face, anchor="la")
        x = (width - (r - l)) // 2 - l
        draw.text((x, y), text, font=face, fill=fill, anchor="la")
        boxes[name] = (x + l, y + t, x + r, y + b)
    return image, boxes


def bottle(
    width: int, height: int, body: tuple[int, int, int], label: tuple[int, int, int], word: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A bottle-shaped RGB object with a patterned, lettered label (so it has features); and its 0/255 mask."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    neck_w, body_top = width // 3, height // 3
    cv2.rectangle(mask, ((width - neck_w) // 2, 0), ((width + neck_w) // 2, body_top), 255, -1)
    cv2.ellipse(mask, (width // 2, body_top), (width // 2 - 1, height // 8), 0, 180, 360, 255, -1)
    cv2.rectangle(mask, (0, body_top), (width - 1, height - 1), 255, -1)
    shade = np.linspace(0.65, 1.15, width)[None, :, None] * np.ones((height, 1, 1))
    rgb[:] = np.clip(np.array(body, np.float32) * shade, 0, 255).astype(np.uint8)
    # The label: a pattern of circles and a word, different for every seed.
    top, bottom = int(height * 0.48), int(height * 0.82)
    label_img = Image.new("RGB", (width, bottom - top), label)
    draw = ImageDraw.Draw(label_img)
    for _ in range(14):
        cx, cy, rad = rng.integers(0, width), rng.integers(0, bottom - top), rng.integers(4, width // 7)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=colour, width=3)
    face = known_font(max(8, width // 4))
    draw.text((width // 2, (bottom - top) // 2), word, font=face, fill=(20, 20, 20), anchor="mm")
    rgb[top:bottom] = np.asarray(label_img)
    rgb[mask == 0] = 0
    return rgb, mask


def paste(scene: np.ndarray, obj: np.ndarray, mask: np.ndarray, left: int, top: int) -> np.ndarray:
    """`scene` with the object's masked pixels pasted at (left, top)."""
    out = scene.copy()
    h, w = mask.shape
    region = out[top : top + h, left : left + w]
    region[mask > 0] = obj[mask > 0]
    return out


def shelf_scene(size: int = 1024, seed: int = 1) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A textured scene with an old green bottle standing in the middle; and the bottle's box."""
    scene = texture(size, size, seed)
    w, h = round(size * 0.22), round(size * 0.5)
    obj, mask = bottle(w, h, (40, 140, 60), (230, 230, 210), "OLD", seed=7)
    left, top = (size - w) // 2, round(size * 0.3)
    return Image.fromarray(paste(scene, obj, mask, left, top)), (left, top, left + w, top + h)


REFERENCE_BACKGROUND = (128, 128, 132)


def reference_shot(width: int = 360, height: int = 640, *, alpha: bool = False) -> Image.Image:
    """A product photo of the new (red) bottle on a flat studio grey, or cut out with alpha."""
    obj, mask = bottle(round(width * 0.8), round(height * 0.6), (190, 30, 40), (245, 240, 225), "NEW", seed=11)
    h, w = mask.shape
    left, top = (width - w) // 2, (height - h) // 2
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:] = REFERENCE_BACKGROUND
    canvas = paste(canvas, obj, mask, left, top)
    if not alpha:
        return Image.fromarray(canvas)
    full = np.zeros((height, width), np.uint8)
    full[top : top + h, left : left + w] = mask
    return Image.fromarray(np.dstack([canvas, full]), "RGBA")


def matched_scene(size: int = 1024, seed: int = 2) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A scene whose subject is a dull, soft, smaller rendering of the reference product, off-centre; and its box."""
    reference = np.asarray(reference_shot(alpha=True))
    ys, xs = np.nonzero(reference[:, :, 3])
    crop = reference[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape[:2]
    scale = 0.55 * size / 1024
    nw, nh = round(w * scale), round(h * scale)
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    dull = cv2.GaussianBlur(small[:, :, :3], (0, 0), 0.8).astype(np.float32)
    dull = (0.75 * dull + 0.25 * dull.mean(axis=2, keepdims=True)) * 0.85
    left, top = round(0.12 * size), round(0.45 * size)
    scene = paste(texture(size, size, seed), np.clip(dull, 0, 255).astype(np.uint8), small[:, :, 3], left, top)
    return Image.fromarray(scene), (left, top, left + nw, top + nh)


def busy_reference_shot() -> Image.Image:
    """The reference product photographed on a noisy blue-to-violet gradient instead of a plain backdrop."""
    rgba = np.asarray(reference_shot(alpha=True)).astype(np.float32)
    h, w = rgba.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = np.random.default_rng(3).normal(0, 8, (h, w, 3))
    back = np.stack([60 + 60 * x / w, 90 + 0 * x, 200 - 60 * y / h], axis=2) + noise
    alpha = rgba[:, :, 3:] / 255
    return Image.fromarray(np.clip(rgba[:, :, :3] * alpha + back * (1 - alpha), 0, 255).astype(np.uint8))
