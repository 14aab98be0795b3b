"""Installed typefaces for re-rendered text: the one that best matches old lettering, and fitting text to a box."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Typefaces old lettering is compared with, by file name, as the Docker image installs them (DejaVu and
# Liberation): sans, serif, condensed, narrow and monospaced cuts in their upright, bold and slanted styles.
_CANDIDATES = (
    ("DejaVu Sans Bold", "DejaVuSans-Bold.ttf"),
    ("DejaVu Sans", "DejaVuSans.ttf"),
    ("DejaVu Sans Oblique", "DejaVuSans-Oblique.ttf"),
    ("DejaVu Sans Bold Oblique", "DejaVuSans-BoldOblique.ttf"),
    ("DejaVu Sans Condensed", "DejaVuSansCondensed.ttf"),
    ("DejaVu Sans Condensed Bold", "DejaVuSansCondensed-Bold.ttf"),
    ("DejaVu Serif", "DejaVuSerif.ttf"),
    ("DejaVu Serif Bold", "DejaVuSerif-Bold.ttf"),
    ("DejaVu Serif Italic", "DejaVuSerif-Italic.ttf"),
    ("DejaVu Serif Bold Italic", "DejaVuSerif-BoldItalic.ttf"),
    ("DejaVu Sans Mono", "DejaVuSansMono.ttf"),
    ("DejaVu Sans Mono Bold", "DejaVuSansMono-Bold.ttf"),
    ("Liberation Sans", "LiberationSans-Regular.ttf"),
    ("Liberation Sans Bold", "LiberationSans-Bold.ttf"),
    ("Liberation Sans Narrow", "LiberationSansNarrow-Regular.ttf"),
    ("Liberation Sans Narrow Bold", "LiberationSansNarrow-Bold.ttf"),
    ("Liberation Serif", "LiberationSerif-Regular.ttf"),
    ("Liberation Serif Bold", "LiberationSerif-Bold.ttf"),
    ("Liberation Serif Italic", "LiberationSerif-Italic.ttf"),
    ("Liberation Mono", "LiberationMono-Regular.ttf"),
)
# Stroke width over cap height above which lettering reads as bold (DejaVu Sans ~0.13, Bold ~0.20).
BOLD_STROKE_RATIO = 0.165
# Old and candidate lettering are compared at this height: enough for serifs, cheap for twenty faces.
_MATCH_HEIGHT = 48


@dataclass(frozen=True)
class Face:
    """One typeface: the name reported to the user and its file (None: Pillow's bundled font)."""

    name: str
    path: str | None

    def at(self, size: int) -> Font:
        """This face at `size` px."""
        # Not cached: a FreeType face must not be shared between worker threads.
        if self.path:
            return ImageFont.truetype(self.path, max(1, size))
        return ImageFont.load_default(size=max(1, size))


BUNDLED = Face("Pillow's bundled sans", None)


@functools.lru_cache(maxsize=1)
def installed() -> tuple[Face, ...]:
    """The candidate faces present on this machine, looked up once because Pillow walks font folders."""
    faces = []
    for name, file in _CANDIDATES:
        try:
            faces.append(Face(name, str(ImageFont.truetype(file, 12).path)))
        except OSError:
            continue
    return tuple(faces)


def default(*, bold: bool = True) -> Face:
    """The plain sans face (bold or regular) when nothing is known of the lettering."""
    wanted = "DejaVu Sans Bold" if bold else "DejaVu Sans"
    faces = installed()
    return next((face for face in faces if face.name == wanted), faces[0] if faces else BUNDLED)


def font(size: int, *, bold: bool = True) -> Font:
    """The plain sans font at `size` px."""
    return default(bold=bold).at(size)


def _normalised(ink: np.ndarray) -> np.ndarray | None:
    """A 0/1 ink mask cropped to its ink and scaled to the comparison height, keeping its aspect."""
    ys, xs = np.nonzero(ink)
    if not len(ys):
        return None
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    width = max(1, round(crop.shape[1] * _MATCH_HEIGHT / crop.shape[0]))
    return cv2.resize(crop, (width, _MATCH_HEIGHT), interpolation=cv2.INTER_AREA)


def _rendered(text: str, face: Face) -> np.ndarray:
    """`text` drawn in `face` at the comparison height, as a 0/1 mask."""
    probe = face.at(2 * _MATCH_HEIGHT)
    l, t, r, b = ink_box(text, probe)
    layer = Image.new("L", (r - l + 4, b - t + 4), 0)
    ImageDraw.Draw(layer).text((2 - l, 2 - t), text, font=probe, fill=255, anchor="la")
    return (np.asarray(layer) > 127).astype(np.uint8)


def likeness(old: np.ndarray, text: str, face: Face) -> float:
    """How alike `old` (a 0/1 mask of lettering) and `text` set in `face` look, 0..1: the overlap of their shapes
    scaled to one height, times how close their widths are."""
    target = _normalised(old)
    return 0.0 if target is None else _likeness(target, text, face)


def _likeness(target: np.ndarray, text: str, face: Face) -> float:
    """likeness() against old lettering already cropped and scaled by _normalised."""
    candidate = _normalised(_rendered(text, face))
    if candidate is None:
        return 0.0
    # Widths differ when the face is wider or narrower; compare the shapes at the old width, then count the gap.
    spread = min(target.shape[1], candidate.shape[1]) / max(target.shape[1], candidate.shape[1])
    candidate = cv2.resize(candidate, (target.shape[1], _MATCH_HEIGHT), interpolation=cv2.INTER_AREA)
    # A little blur so a pixel's shift between rasterisations is not counted as a miss.
    target, candidate = cv2.GaussianBlur(target, (5, 5), 0), cv2.GaussianBlur(candidate, (5, 5), 0)
    overlap = float(np.minimum(target, candidate).sum()) / max(1e-6, float(np.maximum(target, candidate).sum()))
    return overlap * spread**0.5


def match(old: np.ndarray, text: str) -> Face:
    """Of the installed faces, the one in which `text` looks most like the old lettering `old` (a 0/1 mask)."""
    faces = installed()
    target = _normalised(old)
    if not faces or not text.strip() or target is None:
        return default()
    # The old lettering is cropped and scaled once, then set against every face.
    return max(faces, key=lambda face: _likeness(target, text, face))


def ink_box(text: str, face: Font) -> tuple[int, int, int, int]:
    """The box the text's ink covers when drawn at (0, 0) with anchor "la"."""
    left, top, right, bottom = face.getbbox(text, anchor="la")
    return int(left), int(top), int(right), int(bottom)


def fit(text: str, cap_height: int, max_width: int, face: Face) -> Font:
    """`face` at the size whose capitals are `cap_height` px tall, made smaller until the text is at most
    `max_width` wide."""
    reference = face.at(100)
    cap = max(1, ink_box("H", reference)[3] - ink_box("H", reference)[1])
    size = max(4, round(100 * cap_height / cap))
    font_ = face.at(size)
    width = ink_box(text, font_)[2] - ink_box(text, font_)[0]
    if width > max_width > 0:
        size = max(4, int(size * max_width / width))
        font_ = face.at(size)
        # Hinting can round the width up a pixel or two; step down until it really fits.
        while size > 4 and ink_box(text, font_)[2] - ink_box(text, font_)[0] > max_width:
            size -= 1
            font_ = face.at(size)
    return font_
