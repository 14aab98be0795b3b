"""Scalable fonts for re-rendered text, and fitting a line of text to a pixel box."""

from __future__ import annotations

import functools

from PIL import ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# System fonts first (the Docker image installs DejaVu); Pillow's bundled scalable font is the fallback.
_BOLD_FILES = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "FreeSansBold.ttf", "Arial Bold.ttf")
_REGULAR_FILES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf", "Arial.ttf")
# Stroke width over cap height above which lettering reads as bold (DejaVu Sans ~0.13, Bold ~0.20).
BOLD_STROKE_RATIO = 0.165


@functools.lru_cache(maxsize=2)
def _font_path(bold: bool) -> str | None:
    """Where a system sans font lives, looked up once because Pillow walks font folders."""
    for name in _BOLD_FILES if bold else _REGULAR_FILES:
        try:
            return str(ImageFont.truetype(name, 12).path)
        except OSError:
            continue
    return None


def font(size: int, *, bold: bool = True) -> Font:
    """A sans font at `size` px: a system font if there is one, else Pillow's bundled one."""
    # Not cached: a FreeType face must not be shared between worker threads.
    path = _font_path(bold) or _font_path(not bold)
    if path:
        return ImageFont.truetype(path, max(1, size))
    return ImageFont.load_default(size=max(1, size))


def ink_box(text: str, face: Font) -> tuple[int, int, int, int]:
    """The box the text's ink covers when drawn at (0, 0) with anchor "la"."""
    left, top, right, bottom = face.getbbox(text, anchor="la")
    return int(left), int(top), int(right), int(bottom)


def fit(text: str, cap_height: int, max_width: int, *, bold: bool) -> Font:
    """The font whose capitals are `cap_height` px tall, made smaller until the text is at most `max_width` wide."""
    reference = font(100, bold=bold)
    cap = max(1, ink_box("H", reference)[3] - ink_box("H", reference)[1])
    size = max(4, round(100 * cap_height / cap))
    face = font(size, bold=bold)
    width = ink_box(text, face)[2] - ink_box(text, face)[0]
    if width > max_width > 0:
        size = max(4, int(size * max_width / width))
        face = font(size, bold=bold)
        # Hinting can round the width up a pixel or two; step down until it really fits.
        while size > 4 and ink_box(text, face)[2] - ink_box(text, face)[0] > max_width:
            size -= 1
            face = font(size, bold=bold)
    return face
