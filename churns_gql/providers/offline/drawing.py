"""Pillow drawing for the offline generator (not refinements): fitted text on a band, a reference pasted in."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageStat

from churns_gql.imaging import Box
from churns_gql.imaging import join_alpha as _join
from churns_gql.imaging import split_alpha as _split
from churns_gql.offline_rules.intents import RGB
from churns_gql.providers.offline import fonts


def boxes_mask(size: tuple[int, int], boxes: Sequence[Box], feather: int = 0) -> Image.Image:
    """An "L" mask, 255 inside the union of `boxes`, softened over `feather` px inside its edges."""
    hard = Image.new("L", size, 0)
    draw = ImageDraw.Draw(hard)
    for left, top, right, bottom in boxes:
        draw.rectangle((left, top, right - 1, bottom - 1), fill=255)
    if feather <= 0:
        return hard
    # Blurring the union and keeping only its upper half erodes it smoothly, so the ramp lies
    # wholly inside the union (pixels outside stay untouched) and abutting boxes show no seam.
    soft = hard.filter(ImageFilter.GaussianBlur(radius=feather / 2.5))
    soft = soft.point([max(0, 2 * v - 255) for v in range(256)])
    return ImageChops.darker(soft, hard)


def luminance(colour: Sequence[float]) -> float:
    """Perceived brightness (0..255) of an RGB colour."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    """The colour `t` of the way from a to b."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=False))  # type: ignore[return-value]


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    """The height one line of text takes in `font`."""
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent + descent
    left, top, right, bottom = font.getbbox("Ag")
    return bottom - top


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    """The inked width of `text` in `font`."""
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def _layouts(text: str) -> list[list[str]]:
    """The line breaks to try: the text on one line, then every two-line split at a space."""
    words = text.split(" ")
    return [[text]] + [[" ".join(words[:k]), " ".join(words[k:])] for k in range(1, len(words))]


def fit_text(
    draw: ImageDraw.ImageDraw, text: str, width: int, height: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str], bool]:
    """The largest font and line split that fit width×height, and whether it fits at all."""
    layouts = _layouts(text)

    def best(size: int) -> tuple[list[str], int, int]:
        """The narrowest layout at `size`: its lines, width and height."""
        font = fonts.font(size)
        line_h = _line_height(font)
        scored = []
        for lines in layouts:
            w = max(_text_width(draw, line, font) for line in lines)
            h = line_h * len(lines) + round(0.15 * line_h) * (len(lines) - 1)
            # Prefer one line when it fits; otherwise the split with the narrowest widest line.
            fits = w <= width and h <= height
            scored.append((not fits, len(lines) if fits else 0, w, lines, h))
        _, _, w, lines, h = min(scored, key=lambda item: item[:3])
        return lines, w, h

    lo, hi = 6, max(6, height)
    lines, w, h = best(lo)
    if w > width or h > height:
        return fonts.font(lo), lines, False
    # Fitting is monotone in size, so a binary search finds the largest size that fits.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        _, w, h = best(mid)
        if w <= width and h <= height:
            lo = mid
        else:
            hi = mid - 1
    lines, _, _ = best(lo)
    return fonts.font(lo), lines, True


def _render_band(rgb: Image.Image, box: Box, text: str) -> tuple[Image.Image, bool]:
    """`rgb` with a band over `box` carrying `text` centred; and whether the text fitted."""
    out = rgb.copy()
    region = rgb.crop(box)
    bw, bh = region.size
    average = ImageStat.Stat(region).mean[:3]
    # A band of the region's own colour keeps it on-palette; pushing it far towards white or
    # black leaves room for a high-contrast text colour.
    light = luminance(average) >= 128
    band_colour = _mix(average, (255, 255, 255) if light else (0, 0, 0), 0.55)
    # Blurring what is underneath first keeps old lettering from ghosting through the band.
    under = region.filter(ImageFilter.GaussianBlur(radius=max(2.0, bh / 4)))
    band = Image.blend(under, Image.new("RGB", region.size, band_colour), 0.85)
    text_colour: RGB = (20, 20, 20) if luminance(ImageStat.Stat(band).mean[:3]) >= 140 else (250, 250, 250)

    draw = ImageDraw.Draw(band)
    margin_x = max(2, round(0.06 * bw))
    margin_y = max(1, round(0.12 * bh))
    font, lines, fits = fit_text(draw, text, bw - 2 * margin_x, bh - 2 * margin_y)
    line_h = _line_height(font)
    gap = round(0.15 * line_h)
    total = line_h * len(lines) + gap * (len(lines) - 1)
    top = (bh - total) / 2
    for index, line in enumerate(lines):
        cy = top + index * (line_h + gap) + line_h / 2
        if isinstance(font, ImageFont.FreeTypeFont):
            draw.text((bw / 2, cy), line, font=font, fill=text_colour, anchor="mm")
        else:
            left, t, right, bottom = draw.textbbox((0, 0), line, font=font)
            origin = (bw / 2 - (right - left) / 2 - left, cy - (bottom - t) / 2 - t)
            draw.text(origin, line, font=font, fill=text_colour)
    out.paste(band, box[:2])
    return out, fits


def text_image(base: Image.Image, box: Box, text: str) -> tuple[Image.Image, bool]:
    """The base image with `text` re-rendered on a band over `box`."""
    rgb, alpha = _split(base)
    out, fits = _render_band(rgb, box, text)
    if alpha is not None:
        # The band must be visible even where the image was transparent.
        alpha = alpha.copy()
        alpha.paste(255, box)
    return _join(out, alpha), fits


def _feather_for(box: Box) -> int:
    """A feather of about 4% of the box's shorter side, at least one pixel."""
    return max(1, round(0.04 * min(box[2] - box[0], box[3] - box[1])))


def composite_reference(
    base: Image.Image, reference: Image.Image, region: Box, clip: list[Box]
) -> tuple[Image.Image, Box, int]:
    """The base with the reference fitted (contain) and feathered into `region`; where and how soft."""
    rgb, alpha = _split(base)
    ref = reference.convert("RGBA")
    rw, rh = region[2] - region[0], region[3] - region[1]
    scale = min(rw / ref.width, rh / ref.height)
    fw, fh = max(1, min(rw, round(ref.width * scale))), max(1, min(rh, round(ref.height * scale)))
    ref = ref.resize((fw, fh), Image.Resampling.LANCZOS)
    left, top = region[0] + (rw - fw) // 2, region[1] + (rh - fh) // 2
    placed: Box = (left, top, left + fw, top + fh)
    feather = _feather_for(placed)

    layer = Image.new("RGB", rgb.size, 0)
    layer.paste(ref.convert("RGB"), placed[:2])
    ref_alpha = Image.new("L", rgb.size, 0)
    ref_alpha.paste(ref.getchannel("A"), placed[:2])
    mask = ImageChops.multiply(boxes_mask(rgb.size, [placed], feather), ref_alpha)
    if clip:
        mask = ImageChops.darker(mask, boxes_mask(rgb.size, clip))
    out = Image.composite(layer, rgb, mask)
    if alpha is not None:
        # Where the subject is opaque the result is too; elsewhere the input's alpha stays as is.
        alpha = ImageChops.lighter(alpha, mask)
    return _join(out, alpha), placed, feather
