"""Test pictures for the per-operation offline scenarios (P6, P7): a logo to remove, a misspelt poster, a product shot.

Copied in spirit from the offline engine's test scenes, kept small: the bench never imports the tests.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def encode(image: Image.Image) -> bytes:
    """A PNG of the image."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Bold where installed (the OCR reads it), else Pillow's bundled font."""
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def texture(size: int, seed: int = 0) -> np.ndarray:
    """A warm wood-like RGB texture with fine noise, so PNG work costs what a photo's would."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    grain = 14 * np.sin(x / 9.0 + 3 * np.sin(y / 57.0)) + 8 * np.sin(x / 3.1 + y / 40.0)
    base = 120 + 50 * y / size + grain + rng.normal(0, 5, (size, size))
    return np.clip(np.stack([base * 1.15, base * 0.92, base * 0.68], axis=2), 0, 255).astype(np.uint8)


def _bottle(width: int, height: int, body: tuple[int, int, int], word: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A bottle-shaped object with a patterned, lettered label (so it has features); and its 0/255 mask."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    neck, shoulder = width // 3, height // 3
    cv2.rectangle(mask, ((width - neck) // 2, 0), ((width + neck) // 2, shoulder), 255, -1)
    cv2.ellipse(mask, (width // 2, shoulder), (width // 2 - 1, height // 8), 0, 180, 360, 255, -1)
    cv2.rectangle(mask, (0, shoulder), (width - 1, height - 1), 255, -1)
    shade = np.linspace(0.65, 1.15, width)[None, :, None] * np.ones((height, 1, 1))
    rgb[:] = np.clip(np.array(body, np.float32) * shade, 0, 255).astype(np.uint8)
    top, bottom = int(height * 0.48), int(height * 0.82)
    label = Image.new("RGB", (width, bottom - top), (240, 236, 220))
    draw = ImageDraw.Draw(label)
    for _ in range(14):
        cx, cy, rad = rng.integers(0, width), rng.integers(0, bottom - top), rng.integers(4, max(5, width // 7))
        draw.ellipse(
            (cx - rad, cy - rad, cx + rad, cy + rad), outline=tuple(int(v) for v in rng.integers(0, 255, 3)), width=3
        )
    draw.text((width // 2, (bottom - top) // 2), word, font=_font(max(8, width // 4)), fill=(20, 20, 20), anchor="mm")
    rgb[top:bottom] = np.asarray(label)
    rgb[mask == 0] = 0
    return rgb, mask


def _paste(scene: np.ndarray, obj: np.ndarray, mask: np.ndarray, left: int, top: int) -> np.ndarray:
    """`scene` with the object's masked pixels pasted at (left, top)."""
    out = scene.copy()
    h, w = mask.shape
    out[top : top + h, left : left + w][mask > 0] = obj[mask > 0]
    return out


@dataclass
class Op:
    """One offline operation: the parent picture and the refineImage input that asks for it."""

    name: str
    parent: bytes
    kind: str
    prompt: str | None = None
    instructions: str | None = None
    rects: list[dict[str, float]] = field(default_factory=list)
    reference: bytes | None = None

    def variables(self, parent_id: str) -> dict[str, Any]:
        """refineImage input for this operation (the reference travels as an upload, see bench.gql)."""
        data: dict[str, Any] = {"parentId": parent_id, "type": self.kind}
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.instructions is not None:
            data["instructions"] = self.instructions
        if self.rects:
            data["mask"] = self.rects
        return {"input": data}


def regional_colour(size: int) -> Op:
    """'Make it warmer' inside one rectangle of a textured picture."""
    image = Image.fromarray(texture(size, 1))
    return Op(
        "regional colour",
        encode(image),
        "PROMPT",
        prompt="make it warmer",
        rects=[{"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.35}],
    )


def removal(size: int) -> Op:
    """'Remove the logo' (inpainting) over a yellow disc with lettering on the texture."""
    scene = np.ascontiguousarray(texture(size, 2)[:, :, ::-1])
    x, y, s = round(0.12 * size), round(0.62 * size), size
    cv2.circle(scene, (x + round(0.04 * s), y + round(0.07 * s)), round(0.04 * s), (30, 215, 250), -1)
    cv2.putText(
        scene,
        "LOGO",
        (x + round(0.09 * s), y + round(0.1 * s)),
        cv2.FONT_HERSHEY_SIMPLEX,
        s / 420,
        (250, 250, 250),
        max(2, s // 160),
        cv2.LINE_AA,
    )
    box = (x - 6, y - 6, x + round(0.30 * s), y + round(0.14 * s))
    rect = {"x": box[0] / s, "y": box[1] / s, "width": (box[2] - box[0]) / s, "height": (box[3] - box[1]) / s}
    return Op(
        "inpainting removal",
        encode(Image.fromarray(scene[:, :, ::-1])),
        "PROMPT",
        prompt="remove the logo",
        rects=[rect],
    )


def text(size: int) -> Op:
    """A poster whose headline reads NEW FLAVER, repaired to the quoted "NEW FLAVOUR"."""
    image = Image.fromarray(texture(size, 0))
    draw = ImageDraw.Draw(image)
    for words, share, top, fill in (
        ("NEW FLAVER", 0.085, 0.09, (250, 236, 60)),
        ("Limited offer", 0.045, 0.88, (255, 255, 255)),
    ):
        face = _font(round(share * size))
        left, _, right, _ = draw.textbbox((0, 0), words, font=face, anchor="la")
        draw.text(((size - (right - left)) // 2 - left, round(top * size)), words, font=face, fill=fill, anchor="la")
    return Op("text", encode(image), "TEXT", instructions='The headline should read "NEW FLAVOUR"')


def subject(size: int) -> Op:
    """A shelf with an old green bottle, replaced by an uploaded product shot of a red one on studio grey."""
    w, h = round(size * 0.22), round(size * 0.5)
    obj, mask = _bottle(w, h, (40, 140, 60), "OLD", seed=7)
    shelf = _paste(texture(size, 1), obj, mask, (size - w) // 2, round(size * 0.3))
    ref_obj, ref_mask = _bottle(288, 384, (190, 30, 40), "NEW", seed=11)
    studio = np.full((640, 360, 3), (128, 128, 132), np.uint8)
    shot = _paste(studio, ref_obj, ref_mask, (360 - 288) // 2, (640 - 384) // 2)
    return Op("subject", encode(Image.fromarray(shelf)), "SUBJECT", reference=encode(Image.fromarray(shot)))


def operations(size: int) -> list[Op]:
    """The four operations of the offline engine, at size×size."""
    return [regional_colour(size), removal(size), text(size), subject(size)]
