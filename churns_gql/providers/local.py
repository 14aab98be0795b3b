"""An offline image editor that does real, deterministic pixel work with Pillow."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageStat

from churns_gql.providers.base import EditRequest, EditResult, ProviderError, Rect

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

# How far each creativity level pushes an adjustment, relative to the medium level.
_STRENGTH = {1: 0.5, 2: 1.0, 3: 1.6}

# --- prompt parsing -------------------------------------------------------------------------

_COLOURS: dict[str, RGB] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 220, 30),
    "gold": (212, 175, 55),
    "green": (40, 180, 60),
    "teal": (0, 128, 128),
    "cyan": (0, 200, 220),
    "blue": (30, 80, 230),
    "purple": (128, 50, 170),
    "violet": (140, 80, 220),
    "magenta": (220, 0, 180),
    "pink": (255, 120, 180),
    "brown": (130, 80, 40),
}
_COLOUR_ALIASES = {
    "reddish": "red", "redder": "red",
    "orangey": "orange", "orangish": "orange",
    "yellowish": "yellow", "yellower": "yellow",
    "greenish": "green", "greener": "green",
    "bluish": "blue", "blueish": "blue", "bluer": "blue",
    "purplish": "purple", "pinkish": "pink", "pinker": "pink", "brownish": "brown",
}

_INTENT_WORDS: dict[str, str] = {}
for _intent, _words in {
    "warmer": "warm warmer warmth warmed sunset sunny golden",
    "cooler": "cool cooler cold colder icy chilly",
    "brighter": "bright brighter brighten brightened brightness lighter lighten exposure",
    "darker": "dark darker darken darkened dim dimmer",
    "more contrast": "contrast contrasty punchy punchier",
    "less contrast": "flat flatter soft softer",
    "more saturated": "saturate saturated saturation vivid vibrant colorful colourful rich richer",
    "less saturated": "desaturate desaturated muted faded fade dull duller",
    "black and white": "grayscale greyscale monochrome mono bw",
    "blur": "blur blurry blurred blurrier soften defocus",
    "sharpen": "sharpen sharpened sharper sharp sharpness crisp crisper clarity",
}.items():
    for _word in _words.split():
        _INTENT_WORDS[_word] = _intent
for _name in _COLOURS:
    _INTENT_WORDS[_name] = f"tint {_name}"
for _alias, _name in _COLOUR_ALIASES.items():
    _INTENT_WORDS[_alias] = f"tint {_name}"

_LESS = "<less>"
# Multi-word phrases win over their single words, so "washed out" is not "out" ignored.
_PHRASES: dict[tuple[str, ...], str] = {
    ("black", "and", "white"): "black and white",
    ("b", "and", "w"): "black and white",
    ("golden", "hour"): "warmer",
    ("washed", "out"): "less saturated",
    ("tone", "down"): _LESS,
    ("turn", "down"): _LESS,
}
_MAX_PHRASE = max(len(p) for p in _PHRASES)

_OPPOSITES = {
    "warmer": "cooler",
    "brighter": "darker",
    "more contrast": "less contrast",
    "more saturated": "less saturated",
    "blur": "sharpen",
}
_OPPOSITES.update({v: k for k, v in list(_OPPOSITES.items())})
for _name in _COLOURS:
    _OPPOSITES[f"tint {_name}"] = f"less {_name}"

_REDUCERS = frozenset("less lower low reduce reduced decrease fewer lessen minus remove".split())
_NEGATORS = frozenset("not no without never nor don't dont".split())
_STOPWORDS = frozenset(
    """
    a an the make makes making made it its it's this that these those add adding more most much
    with and to of in on at by for from as into onto over up out image images photo photos picture
    pic shot please pls bit little slightly slight very really lot lots tad touch some somewhat quite
    too so just overall whole entire everything all lighting light lights tone tones toned colour
    color colours colors coloured colored look looks looking feel feeling vibe mood style tint tinted
    tinge hue shade shades toward towards down be is are was should could would can will i me my we
    our us you your want wanted like need give get let lets let's now than then also but or while
    keep keeping increase increased boost higher high extra even way kind sort effect filter version
    one
    """.split()
)


def _tokens(prompt: str) -> list[str]:
    """Lower-case words of the prompt, with '&' read as 'and' so "b&w" parses."""
    text = prompt.lower().replace("\u2019", "'").replace("\u2018", "'")
    return ["and" if t == "&" else t for t in re.findall(r"[a-z0-9]+(?:'[a-z]+)?|&", text)]


def _match_at(tokens: list[str], i: int) -> tuple[str | None, int]:
    """The intent or modifier that starts at token i and how many tokens it spans."""
    for length in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
        found = _PHRASES.get(tuple(tokens[i : i + length]))
        if found:
            return found, length
    return _INTENT_WORDS.get(tokens[i]), 1


def parse_prompt_intents(prompt: str | None) -> tuple[list[str], list[str]]:
    """The edits a free-text prompt asks for that this editor can apply, and the words it ignored."""
    tokens = _tokens(prompt or "")
    applied: list[str] = []
    ignored: list[str] = []
    # A pending "less"/"not" applies to the next intent, even across stopwords ("less of the red").
    pending: tuple[str, int] | None = None

    def note(items: list[str], item: str) -> None:
        """Add `item` once, keeping first-seen order."""
        if item not in items:
            items.append(item)

    i = 0
    while i < len(tokens):
        start = i
        found, length = _match_at(tokens, i)
        words = " ".join(tokens[i : i + length])
        i += length
        if found == _LESS:
            pending = ("less", start)
            continue
        if found is None:
            if words in _REDUCERS:
                pending = ("less", start)
            elif words in _NEGATORS:
                pending = ("not", start)
            elif words not in _STOPWORDS:
                note(ignored, words)
                pending = None
            continue
        if pending is None:
            note(applied, found)
        elif pending[0] == "less" and found in _OPPOSITES:
            note(applied, _OPPOSITES[found])
        else:
            # "not warmer" (or "less black and white") has no edit to apply; say so rather than guess.
            note(ignored, " ".join(tokens[pending[1] : i]))
        pending = None
    return applied, ignored


# --- masks ----------------------------------------------------------------------------------


def _pixel_boxes(size: tuple[int, int], rects: Sequence[Rect]) -> list[Box]:
    """The non-empty pixel boxes of `rects` inside an image of `size`."""
    width, height = size
    boxes = [rect.to_pixels(width, height) for rect in rects]
    return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]


def _bbox(boxes: Sequence[Box]) -> Box:
    """The smallest box that holds all of `boxes`."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _boxes_mask(size: tuple[int, int], boxes: Sequence[Box], feather: int = 0) -> Image.Image:
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


def rects_to_mask(size: tuple[int, int], rects: Sequence[Rect], feather: int = 0) -> Image.Image:
    """An "L" mask of `size`, 255 inside the union of `rects`, with an optional inward feather in px."""
    return _boxes_mask(size, _pixel_boxes(size, rects), feather)


# --- image helpers --------------------------------------------------------------------------


def _split(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The image as RGB, and its alpha channel when it has one."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    return image.convert("RGB"), None


def _join(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """The RGB image with `alpha` put back, so the output keeps the input's transparency."""
    if alpha is None:
        return rgb
    out = rgb.copy()
    out.putalpha(alpha)
    return out


def _channel_gain(image: Image.Image, red: float, green: float, blue: float) -> Image.Image:
    """The image with each channel multiplied by its gain, clipped to 0..255."""
    lut: list[int] = []
    for gain in (red, green, blue):
        lut.extend(max(0, min(255, round(v * gain))) for v in range(256))
    return image.point(lut)


def _tone(image: Image.Image, gamma: float, gain: float) -> Image.Image:
    """The image through a gamma curve then a gain; gamma < 1 lifts the mid-tones."""
    curve = [max(0, min(255, round(255 * (v / 255) ** gamma * gain))) for v in range(256)]
    return image.point(curve * 3)


def _luminance(colour: Sequence[float]) -> float:
    """Perceived brightness (0..255) of an RGB colour."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    """The colour `t` of the way from a to b."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def _fmt_box(box: Box) -> str:
    """A pixel box as "W×H at (x,y)" for notes."""
    return f"{box[2] - box[0]}×{box[3] - box[1]} at ({box[0]},{box[1]})"


# --- PROMPT ---------------------------------------------------------------------------------


def _blur(image: Image.Image, s: float) -> Image.Image:
    """A Gaussian blur scaled to the image's size."""
    return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, min(image.size) * 0.004 * s)))


def _sharpen(image: Image.Image, s: float) -> Image.Image:
    """An unsharp mask scaled to the image's size."""
    radius = max(1.0, min(image.size) * 0.003)
    return image.filter(ImageFilter.UnsharpMask(radius=radius, percent=round(80 * s), threshold=2))


def _tint(colour: RGB, s: float) -> Callable[[Image.Image, float], Image.Image]:
    """An adjustment that blends the image towards `colour`."""

    def apply(image: Image.Image, strength: float) -> Image.Image:
        """The image blended towards the colour, more so at higher strength."""
        return Image.blend(image, Image.new("RGB", image.size, colour), min(0.35, 0.14 * strength * s))

    return apply


_ADJUSTMENTS: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "black and white": lambda im, s: im.convert("L").convert("RGB"),
    "brighter": lambda im, s: _tone(im, 1 / (1 + 0.3 * s), 1 + 0.08 * s),
    "darker": lambda im, s: _tone(im, 1 + 0.3 * s, max(0.3, 1 - 0.1 * s)),
    "more contrast": lambda im, s: ImageEnhance.Contrast(im).enhance(1 + 0.3 * s),
    "less contrast": lambda im, s: ImageEnhance.Contrast(im).enhance(max(0.2, 1 - 0.25 * s)),
    "more saturated": lambda im, s: ImageEnhance.Color(im).enhance(1 + 0.4 * s),
    "less saturated": lambda im, s: ImageEnhance.Color(im).enhance(max(0.0, 1 - 0.35 * s)),
    "warmer": lambda im, s: _channel_gain(im, 1 + 0.10 * s, 1 + 0.03 * s, 1 - 0.12 * s),
    "cooler": lambda im, s: _channel_gain(im, 1 - 0.10 * s, 1 + 0.01 * s, 1 + 0.10 * s),
}
for _name, _rgb in _COLOURS.items():
    _ADJUSTMENTS[f"tint {_name}"] = _tint(_rgb, 1.0)
    # Pulling towards the complement is what removes a colour cast.
    _ADJUSTMENTS[f"less {_name}"] = _tint((255 - _rgb[0], 255 - _rgb[1], 255 - _rgb[2]), 0.7)
_ADJUSTMENTS["blur"] = _blur
_ADJUSTMENTS["sharpen"] = _sharpen

# Tone before colour before detail, so "black and white, warmer" gives a warm monochrome and
# a sharpen is not undone by a later tone curve; the prompt's word order does not matter.
_ORDER = {name: rank for rank, name in enumerate(_ADJUSTMENTS)}


def _apply_intents(rgb: Image.Image, intents: Sequence[str], strength: float) -> Image.Image:
    """The RGB image with every intent applied at `strength`, in a fixed order."""
    out = rgb
    for intent in sorted(intents, key=_ORDER.__getitem__):
        out = _ADJUSTMENTS[intent](out, strength)
    return out


def _prompt_image(base: Image.Image, boxes: list[Box], intents: list[str], strength: float) -> Image.Image:
    """The base image with the intents applied inside `boxes`, or everywhere when there are none."""
    rgb, alpha = _split(base)
    adjusted = _apply_intents(rgb, intents, strength)
    if boxes:
        adjusted = Image.composite(adjusted, rgb, _boxes_mask(rgb.size, boxes))
    return _join(adjusted, alpha)


# --- TEXT -----------------------------------------------------------------------------------

# Double, curly and single quotes; a single quote only counts when not inside a word ("don't").
_QUOTED = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d|\u2018([^\u2019]+)\u2019|(?<!\w)\'([^\']+)\'(?!\w)')
_FONT_FILES = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "FreeSansBold.ttf", "Arial Bold.ttf")


def quoted_text(instructions: str | None) -> str | None:
    """The first quoted string in `instructions`, whitespace-collapsed, or None."""
    for match in _QUOTED.finditer(instructions or ""):
        text = " ".join(next(g for g in match.groups() if g is not None).split())
        if text:
            return text
    return None


@functools.lru_cache(maxsize=1)
def _font_path() -> str | None:
    """Where a bold system sans font lives, looked up once because Pillow walks font folders."""
    for name in _FONT_FILES:
        try:
            return str(ImageFont.truetype(name, 12).path)
        except OSError:
            continue
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold sans font at `size` px: a system font if there is one, else Pillow's bundled font."""
    # Fonts are not cached because a FreeType face must not be shared between worker threads.
    path = _font_path()
    if path:
        return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError, ValueError):
        return ImageFont.load_default()


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
    return right - left


def _layouts(text: str) -> list[list[str]]:
    """The line breaks to try: the text on one line, then every two-line split at a space."""
    words = text.split(" ")
    return [[text]] + [[" ".join(words[:k]), " ".join(words[k:])] for k in range(1, len(words))]


def _fit_text(
    draw: ImageDraw.ImageDraw, text: str, width: int, height: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str], bool]:
    """The largest font and line split that fit width×height, and whether it fits at all."""
    layouts = _layouts(text)

    def best(size: int) -> tuple[list[str], int, int]:
        """The narrowest layout at `size`: its lines, width and height."""
        font = _font(size)
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
        return _font(lo), lines, False
    # Fitting is monotone in size, so a binary search finds the largest size that fits.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        _, w, h = best(mid)
        if w <= width and h <= height:
            lo = mid
        else:
            hi = mid - 1
    lines, _, _ = best(lo)
    return _font(lo), lines, True


def _render_band(rgb: Image.Image, box: Box, text: str) -> tuple[Image.Image, bool]:
    """`rgb` with a band over `box` carrying `text` centred; and whether the text fitted."""
    out = rgb.copy()
    region = rgb.crop(box)
    bw, bh = region.size
    average = ImageStat.Stat(region).mean[:3]
    # A band of the region's own colour keeps it on-palette; pushing it far towards white or
    # black leaves room for a high-contrast text colour.
    light = _luminance(average) >= 128
    band_colour = _mix(average, (255, 255, 255) if light else (0, 0, 0), 0.55)
    # Blurring what is underneath first keeps old lettering from ghosting through the band.
    under = region.filter(ImageFilter.GaussianBlur(radius=max(2.0, bh / 4)))
    band = Image.blend(under, Image.new("RGB", region.size, band_colour), 0.85)
    text_colour: RGB = (20, 20, 20) if _luminance(ImageStat.Stat(band).mean[:3]) >= 140 else (250, 250, 250)

    draw = ImageDraw.Draw(band)
    margin_x = max(2, round(0.06 * bw))
    margin_y = max(1, round(0.12 * bh))
    font, lines, fits = _fit_text(draw, text, bw - 2 * margin_x, bh - 2 * margin_y)
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


def _text_image(base: Image.Image, box: Box, text: str) -> tuple[Image.Image, bool]:
    """The base image with `text` re-rendered on a band over `box`."""
    rgb, alpha = _split(base)
    out, fits = _render_band(rgb, box, text)
    if alpha is not None:
        # The band must be visible even where the image was transparent.
        alpha = alpha.copy()
        alpha.paste(255, box)
    return _join(out, alpha), fits


# --- SUBJECT --------------------------------------------------------------------------------


def _centre_box(size: tuple[int, int]) -> Box:
    """A centred square half the image's shorter side across."""
    width, height = size
    side = max(1, round(0.5 * min(width, height)))
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _feather_for(box: Box) -> int:
    """A feather of about 4% of the box's shorter side, at least one pixel."""
    return max(1, round(0.04 * min(box[2] - box[0], box[3] - box[1])))


def _composite_reference(
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
    mask = ImageChops.multiply(_boxes_mask(rgb.size, [placed], feather), ref_alpha)
    if clip:
        mask = ImageChops.darker(mask, _boxes_mask(rgb.size, clip))
    out = Image.composite(layer, rgb, mask)
    if alpha is not None:
        # Where the subject is opaque the result is too; elsewhere the input's alpha stays as is.
        alpha = ImageChops.lighter(alpha, mask)
    return _join(out, alpha), placed, feather


def _emphasise(base: Image.Image, region: Box, clip: list[Box], strength: float) -> tuple[Image.Image, int]:
    """The base with the region sharpened, given more contrast and lifted; and the feather used."""
    rgb, alpha = _split(base)
    adjusted = _sharpen(rgb, strength * 1.2)
    adjusted = ImageEnhance.Contrast(adjusted).enhance(1 + 0.15 * strength)
    adjusted = _tone(adjusted, 1 / (1 + 0.12 * strength), 1.0)
    feather = _feather_for(region)
    mask = _boxes_mask(rgb.size, clip or [region], feather)
    return _join(Image.composite(adjusted, rgb, mask), alpha), feather


# --- the editor -----------------------------------------------------------------------------


def _strength(creativity: int) -> float:
    """How hard to push an edit for creativity 1 (subtle) to 3 (strong); out-of-range values clamp."""
    return _STRENGTH[max(1, min(3, int(creativity)))]


PREVIEW_SIDE = 512
"""Longest side of a streamed preview: it is looked at for a moment, not kept."""


def _preview(request: EditRequest, intents: list[str], strength: float) -> Image.Image:
    """A half-strength preview of a PROMPT edit, at most PREVIEW_SIDE pixels on its longest side."""
    small = request.image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return _prompt_image(small, _pixel_boxes(small.size, request.rects), intents, strength)


class LocalImageEditor:
    """An image editor that runs offline, costs nothing and gives the same output for the same input."""

    name = "local"

    async def edit(self, request: EditRequest) -> EditResult:
        """Apply the request with Pillow in a worker thread and say what was done."""
        width, height = request.image.size
        if width == 0 or height == 0:
            raise ProviderError("bad_request", "The base image is empty.")
        boxes = _pixel_boxes((width, height), request.rects)
        if request.rects and not boxes:
            raise ProviderError("bad_request", "The selected area lies outside the image; select a part of it.")
        strength = _strength(request.creativity)
        if request.kind == "PROMPT":
            return await self._prompt(request, boxes, strength)
        if request.kind == "TEXT":
            return await self._text(request, boxes)
        if request.kind == "SUBJECT":
            return await self._subject(request, boxes, strength)
        raise ProviderError("bad_request", f"Unknown refinement kind {request.kind!r}.")

    async def _prompt(self, request: EditRequest, boxes: list[Box], strength: float) -> EditResult:
        """Apply the adjustments the prompt asks for, sending a half-strength preview first if asked."""
        intents, ignored = parse_prompt_intents(request.prompt or request.instructions)
        ignored_note = f"; ignored: {', '.join(ignored)}" if ignored else ""
        if not intents:
            image = await asyncio.to_thread(_prompt_image, request.image, [], [], strength)
            return EditResult(image=image, notes=f"no recognised edit; image unchanged{ignored_note}")
        if request.on_partial is not None:
            preview = await asyncio.to_thread(_preview, request, intents, strength / 2)
            await request.on_partial(preview, 0)
        image = await asyncio.to_thread(_prompt_image, request.image, boxes, intents, strength)
        where = " to the selected area" if boxes else ""
        return EditResult(image=image, notes=f"applied{where}: {', '.join(intents)}{ignored_note}")

    async def _text(self, request: EditRequest, boxes: list[Box]) -> EditResult:
        """Re-render the intended text on a band in the selected area or along the bottom."""
        text = quoted_text(request.instructions)
        source = "the instructions"
        if text is None and request.concept.intended_text and request.concept.intended_text.strip():
            text = " ".join(request.concept.intended_text.split())
            source = "the image's concept"
        if text is None:
            raise ProviderError(
                "bad_request",
                "Which text to render is unknown: this image's concept has none. "
                "Put the text in quotes in the instructions, e.g. text: \"SALE 50%\".",
            )
        width, height = request.image.size
        if boxes:
            # The largest selection holds the band whole, so no pixel outside the selection changes.
            box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
            where = f"in the selected area {_fmt_box(box)}"
        else:
            box = (0, height - max(1, round(0.18 * height)), width, height)
            where = "at the bottom"
        image, fits = await asyncio.to_thread(_text_image, request.image, box, text)
        overflow = "; too long to fit fully even at the smallest size" if not fits else ""
        return EditResult(image=image, notes=f're-rendered text "{text}" (from {source}) on a band {where}{overflow}')

    async def _subject(self, request: EditRequest, boxes: list[Box], strength: float) -> EditResult:
        """Composite the reference into the region, or emphasise the region when there is none."""
        region = _bbox(boxes) if boxes else _centre_box(request.image.size)
        instructions = (request.instructions or "").strip()
        unread = "; instructions are not interpreted offline" if instructions else ""
        if request.reference is not None:
            if request.reference.width == 0 or request.reference.height == 0:
                raise ProviderError("bad_request", "The reference image is empty.")
            image, placed, feather = await asyncio.to_thread(
                _composite_reference, request.image, request.reference, region, boxes
            )
            notes = f"composited the reference into region {_fmt_box(placed)} with a {feather}px feather{unread}"
            return EditResult(image=image, notes=notes)
        if not instructions:
            raise ProviderError("bad_request", "A subject edit needs a reference image or instructions.")
        image, feather = await asyncio.to_thread(_emphasise, request.image, region, boxes, strength)
        notes = (
            f"no reference image: sharpened and lifted the subject region {_fmt_box(region)} "
            f"with a {feather}px feather{unread}"
        )
        return EditResult(image=image, notes=notes)
