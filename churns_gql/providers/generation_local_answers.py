"""The offline provider's answers to the generation's text stages, as the stages' answer models.

Nothing here is random: choices come from a SHA-256 of the inputs, so the same brief gives the same
strategies and concepts every time; image_eval and image_assessment measure the pixels they are shown.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageChops, ImageStat

from churns_gql.offline_rules.intents import COLOURS
from churns_gql.offline_rules.text_rules import quoted_text
from churns_gql.providers.base import ProviderError
from churns_gql.providers.generation import CREATIVE_EXPERT, IMAGE_ASSESSMENT, IMAGE_EVAL, STRATEGY, STYLE_GUIDE
from churns_gql.providers.generation_answers import (
    Answer,
    Assessment,
    ImageAnalysis,
    PromotionalText,
    Strategies,
    Strategy,
    StyleDirection,
    StyleGuidance,
    VisualConcept,
)
from churns_gql.providers.offline.drawing import RGB, Box, luminance

TEXT_BAND = 0.18  # share of the height the promotional text band takes

_AUDIENCES = (
    "young professionals",
    "students on a budget",
    "busy parents",
    "fitness enthusiasts",
    "eco-conscious shoppers",
    "food lovers",
    "small business owners",
    "weekend travellers",
)
_NICHES = ("lifestyle", "health and wellness", "food and drink", "fashion", "home and living", "tech and gadgets")
_OBJECTIVES = ("drive sales", "build brand awareness", "announce a launch", "grow engagement", "promote an offer")
_VOICES = ("playful", "premium", "friendly", "bold", "calm", "witty")

# Per voice: style keywords, the style direction, the lighting and mood, and the hue shift of its palette.
_STYLES: dict[str, tuple[list[str], str, str, float]] = {
    "playful": (
        ["bright", "pop colours", "bold shapes", "flat lay"],
        "Bright high-key flat lay with saturated pop colours and bold graphic shapes.",
        "even, bright daylight; cheerful and energetic",
        0.08,
    ),
    "premium": (
        ["minimal", "dark backdrop", "soft highlights", "luxury"],
        "Minimal studio shot on a deep backdrop with soft, controlled highlights.",
        "low-key studio light with a soft rim; refined and exclusive",
        0.55,
    ),
    "friendly": (
        ["warm", "natural light", "lifestyle", "approachable"],
        "Warm natural-light lifestyle scene, approachable and lived-in.",
        "warm window light; relaxed and welcoming",
        0.12,
    ),
    "bold": (
        ["high contrast", "graphic", "strong colour blocks", "dynamic"],
        "High-contrast graphic composition with strong colour blocks and diagonal energy.",
        "hard directional light; punchy and confident",
        0.95,
    ),
    "calm": (
        ["pastel", "airy", "soft shadows", "clean"],
        "Airy pastel scene with soft shadows and generous negative space.",
        "diffuse soft light; serene and fresh",
        0.45,
    ),
    "witty": (
        ["surreal", "unexpected scale", "colourful", "editorial"],
        "Editorial scene with a surreal twist: unexpected scale and colourful props.",
        "crisp studio light; clever and lively",
        0.75,
    ),
}

_STOPWORDS = frozenset(
    """a an the and or for of to in on at by with from our your my their this that these those is are be
    make create design new image images photo picture post poster ad advert advertisement banner social media
    instagram facebook pinterest story reel promote promoting promotion marketing campaign about some very
    we us you it its into over under please want need show showing featuring feature""".split()
)
_NEGATIVES = [
    "blurry or distorted subject",
    "misspelled or garbled text",
    "watermarks or logos",
    "cluttered background",
]


def seed(*parts: Any) -> int:
    """A stable integer from the parts, the offline provider's only source of variety."""
    return int.from_bytes(hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()[:8], "big")


def _hex(colour: RGB) -> str:
    """An RGB colour as #RRGGBB."""
    return "#{:02X}{:02X}{:02X}".format(*colour)


def rgb(value: str) -> RGB:
    """A #RRGGBB colour as RGB."""
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def _hue_colour(hue: float, lightness: float, saturation: float) -> RGB:
    """The RGB colour of a hue (wrapped into 0..1), lightness and saturation."""
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def keywords(prompt: str) -> list[str]:
    """The prompt's content words in order, once each, without quoted text."""
    unquoted = re.sub(r'"[^"]*"|\u201c[^\u201d]*\u201d', " ", prompt.lower())
    words: list[str] = []
    for word in re.findall(r"[^\W\d_][\w'-]*", unquoted):
        if word not in _STOPWORDS and len(word) > 1 and word not in words:
            words.append(word)
    return words


def subject_from_prompt(prompt: str) -> str:
    """A short subject phrase from the prompt's content words."""
    words = keywords(prompt)
    return " ".join(words[:5]) if words else "the product"


def headline(prompt: str) -> str:
    """The promotional text: the prompt's quoted text, else its first content words in capitals."""
    quoted = quoted_text(prompt)
    if quoted:
        return quoted
    words = keywords(prompt)
    return " ".join(words[:3]).upper() if words else "NEW"


def _colour_name(colour: tuple[float, ...]) -> str:
    """The nearest named colour to an RGB mean."""
    named = dict(COLOURS, white=(245, 245, 245), black=(15, 15, 15), grey=(128, 128, 128))
    return min(named, key=lambda n: sum((a - b) ** 2 for a, b in zip(named[n], colour, strict=False)))


def dominant_colours(image: Image.Image, count: int = 4) -> list[RGB]:
    """The `count` most common colours of the image, most common first."""
    small = image.convert("RGB").resize((64, 64), Image.Resampling.BOX)
    quantized = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    # A P image's colours are palette indices (typed as int | tuple); each slice is one RGB triple.
    return [tuple(palette[i * 3 : i * 3 + 3]) for _, i in counts][:count]  # type: ignore[operator,return-value]


# -- the structured stages -------------------------------------------------------------------------


def _analyse(payload: dict[str, Any], images: list[Image.Image]) -> ImageAnalysis:
    """image_eval: describe the reference from its pixels (subject in the middle, setting around it)."""
    if not images:
        raise ProviderError("bad_request", "There is no reference image to describe.")
    reference = images[0].convert("RGB")
    colours = dominant_colours(reference)
    width, height = reference.size
    inner_box = (width // 4, height // 4, max(width // 4 + 1, 3 * width // 4), max(height // 4 + 1, 3 * height // 4))
    # The middle is taken as the subject and the frame around it as the setting.
    frame = Image.new("L", reference.size, 255)
    frame.paste(0, inner_box)
    subject_colour = _colour_name(tuple(ImageStat.Stat(reference.crop(inner_box)).mean))
    backdrop = tuple(ImageStat.Stat(reference, frame if frame.getbbox() else None).mean)
    contrast = "high" if ImageStat.Stat(reference.convert("L")).stddev[0] > 40 else "low"
    return ImageAnalysis(
        main_subject=f"the {subject_colour} subject of the reference photo",
        setting=f"a {'light' if luminance(backdrop) >= 128 else 'dark'} {_colour_name(backdrop)} backdrop",
        style=f"photograph, {width}×{height}, {contrast} contrast",
        text_in_image="",
        dominant_colors=[_hex(c) for c in colours],
    )


def _strategies(payload: dict[str, Any], images: list[Image.Image]) -> Strategies:
    """strategy: N distinct combinations, picked from fixed lists by the prompt's hash."""
    prompt = payload["brief"]["prompt"]
    base = seed("strategy", prompt, payload["brief"]["platform"]["name"])
    return Strategies(
        strategies=[
            Strategy(
                target_audience=_AUDIENCES[(base + 3 * i) % len(_AUDIENCES)],
                target_niche=_NICHES[(base // 11 + i) % len(_NICHES)],
                target_objective=_OBJECTIVES[(base // 7 + i) % len(_OBJECTIVES)],
                target_voice=_VOICES[(base // 49 + i) % len(_VOICES)],
            )
            for i in range(int(payload["num_strategies"]))
        ]
    )


def _styles(payload: dict[str, Any], images: list[Image.Image]) -> StyleGuidance:
    """style_guide: the style of each strategy's voice."""
    guidance = []
    for strategy in payload["strategies"]:
        words, description, _mood, _shift = _STYLES[strategy["target_voice"]]
        guidance.append(
            StyleDirection(
                style_keywords=list(words),
                style_description=description,
                marketing_impact=f"A {strategy['target_voice']} look helps {strategy['target_objective']} "
                f"with {strategy['target_audience']}.",
            )
        )
    return StyleGuidance(style_guidance=guidance)


def _palette(prompt: str, voice: str, analysis: dict[str, Any] | None, index: int) -> list[str]:
    """4 or 5 #RRGGBB colours for one concept."""
    # Colours the user named come first, then the reference's, then ones derived from the voice.
    named = [COLOURS[w] for w in keywords(prompt) if w in COLOURS]
    from_reference = [rgb(c) for c in (analysis or {}).get("dominant_colors", [])]
    hue = (seed("hue", prompt) % 360) / 360 + _STYLES[voice][3] + 0.07 * index
    dark = voice in ("premium", "bold")
    derived = [
        _hue_colour(hue, 0.18 if dark else 0.86, 0.35),
        _hue_colour(hue + 0.05, 0.32 if dark else 0.70, 0.45),
        _hue_colour(hue + 0.5, 0.55, 0.75),
        _hue_colour(hue + 0.25, 0.50, 0.60),
    ]
    palette: list[RGB] = []
    # The background pair always comes from the derived colours so text and subject stand out on it.
    for colour in derived[:2] + named + from_reference[:1] + derived[2:]:
        if colour not in palette:
            palette.append(colour)
    return [_hex(c) for c in palette[:5]]


def _composition(width: int, height: int) -> str:
    """The composition wording for the platform's orientation."""
    if height > width * 1.1:
        return "vertical frame: subject centred in the upper two thirds, text band along the bottom"
    if width > height * 1.1:
        return "wide frame: subject centred with room on both sides, text band along the bottom"
    return "square frame: subject centred, eye-level, text band along the bottom"


def _concept(payload: dict[str, Any], images: list[Image.Image]) -> VisualConcept:
    """creative_expert: one visual concept from the brief, strategy, style and reference analysis."""
    brief, strategy, style = payload["brief"], payload["strategy"], payload["style"]
    analysis = payload.get("reference_analysis")
    voice = strategy["target_voice"]
    platform = brief["platform"]
    subject = analysis["main_subject"] if analysis else subject_from_prompt(brief["prompt"])
    return VisualConcept(
        main_subject=subject,
        composition=_composition(platform["width"], platform["height"]),
        background=f"smooth gradient backdrop in the palette's first two colours, {', '.join(style['style_keywords'][:2])}",
        lighting_and_mood=_STYLES[voice][2],
        color_palette=_palette(brief["prompt"], voice, analysis, int(payload["index"])),
        visual_style=style["style_description"],
        promotional_text_visuals=PromotionalText(
            text=headline(brief["prompt"]),
            style=f"bold sans-serif capitals, {voice} tone, high contrast on a band",
            placement="bottom",
        ),
        negative_elements=list(_NEGATIVES),
    )


def subject_box(width: int, height: int) -> Box:
    """Where the subject sits: centred above the text band."""
    usable = height * (1 - TEXT_BAND)
    side = round(min(width * 0.6, usable * 0.7))
    left = (width - side) // 2
    top = round((usable - side) / 2)
    return left, top, left + side, top + side


def _score(value: float, steps: tuple[float, float, float, float], higher_is_better: bool = True) -> int:
    """1..5: one plus how many of the ascending `steps` the value reaches (or stays under)."""
    passed = sum(value >= s if higher_is_better else value <= s for s in steps)
    return 1 + passed


def _assess(payload: dict[str, Any], images: list[Image.Image]) -> Assessment:
    """image_assessment: scores measured on the pixels of the image (and the reference)."""
    picture = images[0].convert("RGB")
    concept = payload["visual_concept"]
    width, height = picture.size
    contrast = ImageStat.Stat(picture.convert("L")).stddev[0]
    technical = _score(contrast, (10, 20, 35, 50))
    # Concept adherence: how close the image's own colours come to each palette colour.
    present = dominant_colours(picture, 8)
    distances = [
        min(sum((a - b) ** 2 for a, b in zip(rgb(c), p, strict=False)) ** 0.5 for p in present)
        for c in concept["color_palette"]
    ]
    adherence = _score(sum(distances) / max(1, len(distances)), (120, 90, 60, 30), higher_is_better=False)
    text = concept["promotional_text_visuals"]["text"].strip()
    text_score = None
    if text:
        band = picture.crop((0, height - round(TEXT_BAND * height), width, height)).convert("L")
        text_score = _score(ImageStat.Stat(band).stddev[0], (5, 10, 18, 25))
    subject_score = None
    if payload.get("has_reference") and len(images) > 1:
        region = picture.crop(subject_box(width, height)).resize((32, 32), Image.Resampling.BOX)
        reference = images[1].convert("RGB").resize((32, 32), Image.Resampling.BOX)
        difference = sum(ImageStat.Stat(ImageChops.difference(region, reference)).mean) / 3
        subject_score = _score(difference, (90, 60, 40, 20), higher_is_better=False)
    weakest = min(((technical, "contrast"), (adherence, "palette match"), (text_score or 5, "text legibility")))
    notes = "no changes needed" if weakest[0] >= 4 else f"weakest point: {weakest[1]} ({weakest[0]}/5)"
    return Assessment(
        concept_adherence=adherence,
        technical_quality=technical,
        subject_preservation=subject_score,
        text_rendering=text_score,
        notes=notes,
    )


BUILDERS: dict[str, Callable[[dict[str, Any], list[Image.Image]], Answer]] = {
    IMAGE_EVAL: _analyse,
    STRATEGY: _strategies,
    STYLE_GUIDE: _styles,
    CREATIVE_EXPERT: _concept,
    IMAGE_ASSESSMENT: _assess,
}
"""Stage → the function answering its question from the payload and images."""
