"""TEXT repair: find the wrong line with OCR, inpaint its glyphs and render the intended text in its place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

import cv2
import numpy as np
from PIL import Image, ImageDraw

from churns_gql.imaging import Box, composite, join_alpha, pixel_boxes, split_alpha, to_bgr
from churns_gql.offline_rules.text_rules import concept_pieces, intended_text, unquoted
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline import fonts
from churns_gql.providers.offline.fill import fill
from churns_gql.providers.offline.glyphs import Glyphs, find_glyphs
from churns_gql.providers.offline.ocr import TextLine, read_lines

_TOP_WORDS = frozenset("headline heading title header top upper".split())
_BOTTOM_WORDS = frozenset("footer bottom tagline caption footnote lower disclaimer".split())
# Below this similarity a line is not taken for a misspelling of the intended text without another hint.
MIN_SIMILARITY = 0.35
# New text may grow this much wider than the old (times strength) before it is set smaller.
GROWTH = 0.35


def _norm(text: str) -> str:
    """Text compared case- and spacing-insensitively."""
    return " ".join(re.sub(r"[^\w%$€£&!?]+", " ", text.upper()).split())


def similarity(a: str, b: str) -> float:
    """How alike two texts read, 0..1."""
    return SequenceMatcher(None, _norm(a), _norm(b)).ratio()


def _position_hint(instructions: str | None) -> str | None:
    """ "top" or "bottom" when the instructions name where the text is (headline, footer...)."""
    words = set(re.findall(r"[a-z]+", unquoted(instructions).lower()))
    if words & _TOP_WORDS and not words & _BOTTOM_WORDS:
        return "top"
    if words & _BOTTOM_WORDS and not words & _TOP_WORDS:
        return "bottom"
    return None


def _hinted(lines: Sequence[TextLine], hint: str | None, height: int) -> TextLine | None:
    """The line a position word points at: the largest line in the upper part, or the lowest line."""
    if hint == "bottom":
        return max(lines, key=lambda line: line.box[3])
    if hint == "top":
        upper = [line for line in lines if (line.box[1] + line.box[3]) / 2 < 0.6 * height] or list(lines)
        return max(upper, key=lambda line: (line.height, -line.box[1]))
    return None


def _overlap(line: TextLine, box: Box) -> float:
    """The share of the line's box that lies inside `box`."""
    l, t, r, b = line.box
    w = max(0, min(r, box[2]) - max(l, box[0]))
    h = max(0, min(b, box[3]) - max(t, box[1]))
    return w * h / max(1, (r - l) * (b - t))


def _reads(lines: Sequence[TextLine], wanted: str) -> bool:
    """Whether the lines, read top to bottom, already spell `wanted` (a headline set on two lines counts)."""
    reading = " ".join(_norm(line.text) for line in sorted(lines, key=lambda line: (line.box[1], line.box[0])))
    return bool(_norm(wanted)) and _norm(wanted) in reading


def choose_line(
    lines: Sequence[TextLine], wanted: str, instructions: str | None, selected: Sequence[Box], height: int
) -> TextLine:
    """The OCR line that should read `wanted`: inside the selection, at the named position, most alike."""
    candidates = [line for line in lines if not selected or max(_overlap(line, b) for b in selected) >= 0.3]
    # A lone letter is usually a shape OCR took for one (a ring read as "O"), not lettering to correct.
    words = [line for line in candidates if len(_norm(line.text).replace(" ", "")) > 1]
    candidates = words if words and len(_norm(wanted).replace(" ", "")) > 1 else candidates
    if not candidates:
        raise ProviderError("bad_request", "No text was found in the selected area: select the text to correct.")
    if _reads(candidates, wanted):
        raise ProviderError("bad_request", f'The text already reads "{wanted}": nothing to correct.')
    found = ", ".join(f'"{line.text}"' for line in candidates)
    wrong = [line for line in candidates if _norm(line.text) != _norm(wanted)]
    hinted = _hinted(candidates, _position_hint(instructions), height)
    if hinted is not None:
        if hinted not in wrong:
            raise ProviderError("bad_request", f'That text already reads "{hinted.text}": nothing to correct.')
        return hinted
    if not wrong:
        raise ProviderError("bad_request", f'The text already reads "{wanted}": nothing to correct.')
    best = max(wrong, key=lambda line: (similarity(line.text, wanted), line.height))
    if selected or len(candidates) == 1 or similarity(best.text, wanted) >= MIN_SIMILARITY:
        return best
    raise ProviderError(
        "bad_request",
        f'Which text should read "{wanted}" is unclear: the image reads {found}. '
        "Select it with a rectangle, or say which one (the headline, the footer).",
    )


def closest_piece(lines: Sequence[TextLine], pieces: Sequence[str], selected: Sequence[Box]) -> str:
    """Of a concept's pieces of text, the one a line of the image (in the selection) misreads most closely."""
    candidates = [line for line in lines if not selected or max(_overlap(line, b) for b in selected) >= 0.3]

    def score(piece: str) -> float:
        """How closely some not-yet-right line reads `piece`."""
        return max(
            (similarity(line.text, piece) for line in candidates if _norm(line.text) != _norm(piece)), default=0.0
        )

    return max(pieces, key=score)


def _alignment(box: Box, width: int) -> str:
    """ "left", "centre" or "right": how the line sits in the image, judged by its margins."""
    left, right = box[0], width - box[2]
    if abs(left - right) <= 0.08 * width:
        return "centre"
    return "left" if left < right else "right"


def render(rgb: Image.Image, old: str, new: str, glyphs: Glyphs, strength: float, face: fonts.Face) -> Image.Image:
    """`rgb` with `new` drawn in `face` where the old ink was: same cap size, width per letter, baseline, alignment
    and colour (and drop shadow)."""
    width = rgb.width
    l, t, r, b = glyphs.ink
    # Size the font so the old string would cover the old ink's height, then set the new one at that size.
    probe = face.at(100)
    ol, ot, orr, ob = probe.getbbox(old, anchor="ls")
    size = max(4, round(100 * (b - t) / max(1, ob - ot)))
    baseline = b - round(ob * size / 100)
    # The old lettering may be narrower or wider than this font; the new text is squeezed or stretched alike.
    squeeze = (r - l) / max(1.0, (orr - ol) * size / 100)
    squeeze = 1.0 if abs(squeeze - 1) < 0.05 else min(1.6, max(0.6, squeeze))
    align = _alignment(glyphs.ink, width)
    margin = round(0.02 * width)
    centre = (l + r) / 2
    room = {
        "left": width - margin - l,
        "right": r - margin,
        "centre": 2 * min(centre - margin, width - margin - centre),
    }
    max_width = int(min(room[align], (r - l) * (1 + GROWTH * strength)))
    font = face.at(size)
    nl, _, nr, _ = font.getbbox(new, anchor="ls")
    if (nr - nl) * squeeze > max_width:
        cap = fonts.ink_box("H", font)
        font = fonts.fit(new, cap[3] - cap[1], int(max_width / squeeze), face)
        nl, _, nr, _ = font.getbbox(new, anchor="ls")
    ink_width = round((nr - nl) * squeeze)
    left = {"left": l, "right": r - ink_width, "centre": round(centre - ink_width / 2)}[align]
    out = rgb.copy()
    if glyphs.shadow is not None:
        colour, dx, dy = glyphs.shadow
        _draw(out, new, font, (left + dx, baseline + dy), colour, squeeze)
    _draw(out, new, font, (left, baseline), glyphs.colour, squeeze)
    return out


def _draw(
    out: Image.Image, text: str, face: fonts.Font, at: tuple[int, int], colour: tuple[int, int, int], squeeze: float
) -> None:
    """Draw `text` with its ink starting at x = at[0] on baseline y = at[1], its width scaled by `squeeze`."""
    nl, nt, nr, nb = face.getbbox(text, anchor="ls")
    x, baseline = at
    if squeeze == 1.0:
        ImageDraw.Draw(out).text((x - nl, baseline), text, font=face, fill=colour, anchor="ls")
        return
    pad = 2
    layer = Image.new("L", (int(nr - nl) + 2 * pad, int(nb - nt) + 2 * pad), 0)
    ImageDraw.Draw(layer).text((pad - nl, pad - nt), text, font=face, fill=255, anchor="ls")
    layer = layer.resize((max(1, round(layer.width * squeeze)), layer.height), Image.Resampling.BICUBIC)
    left, top = x - round(pad * squeeze), int(baseline + nt - pad)
    out.paste(colour, (left, top, left + layer.width, top + layer.height), layer)


def repair_text(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
    """The parent with its wrong line of text replaced by the intended text, and what was done."""
    wanted = intended_text(request.instructions, request.concept.intended_text)
    if wanted is None:
        raise ProviderError("bad_request", 'What the text should read is unknown: quote it, e.g. "NEW FLAVOUR".')
    text, source = wanted
    rgb, alpha = split_alpha(request.image)
    bgr = to_bgr(rgb)
    lines = read_lines(bgr)
    if not lines:
        raise ProviderError("bad_request", "No text was found in the image to correct.")
    selected = pixel_boxes(rgb.size, request.rects)
    if source == "the image's concept":
        # A run's text is often a headline and a tagline set apart: fix the piece the image gets wrong.
        text = closest_piece(lines, concept_pieces(request.concept.intended_text), selected)
    line = choose_line(lines, text, request.instructions, selected, rgb.height)
    glyphs = find_glyphs(bgr, line.box)
    stroke = max(2, round(0.06 * (glyphs.ink[3] - glyphs.ink[1])))
    hole = cv2.dilate(glyphs.mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke + 1, 2 * stroke + 1)))
    cleaned = fill(bgr, hole, radius=max(3, min(6, stroke)))
    # The old line's own letters pick the typeface, so a serif or condensed headline is not redrawn in a plain sans.
    face = fonts.match(glyphs.letters, line.text) if glyphs.letters is not None else fonts.default(bold=glyphs.bold)
    edited = render(Image.fromarray(cv2.cvtColor(cleaned, cv2.COLOR_BGR2RGB)), line.text, text, glyphs, strength, face)
    changed = (hole > 0) | np.any(np.asarray(edited) != np.asarray(rgb), axis=2)
    result = composite(request.image, join_alpha(edited, alpha), changed.astype(np.float32))
    l, t, r, b = line.box
    notes = (
        f'replaced "{line.text}" with "{text}" (from {source}) in {face.name}, the closest installed face, '
        f"in its own box {r - l}×{b - t} at ({l},{t})"
    )
    return result, notes
