"""Offline TEXT repair on synthetic posters: OCR reads the intended text in the old text's place, nothing else moves."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest
import rapidocr
from PIL import Image, ImageDraw, ImageFont

from churns_gql.concepts import Concept
from churns_gql.imaging import Rect, to_bgr
from churns_gql.offline_rules.text_rules import concept_pieces, quoted_text, text_subject_refusal
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline import ocr
from churns_gql.providers.offline.ocr import TextLine, merge_words, read_lines
from churns_gql.providers.offline.text import choose_line, closest_piece, repair_text
from tests.providers.offline_text_scenes import known_font, poster, save, texture

Box = tuple[int, int, int, int]


def edit_distance(a: str, b: str) -> float:
    """Levenshtein distance of the upper-cased, space-collapsed texts over the longer one's length."""
    a, b = " ".join(a.upper().split()), " ".join(b.upper().split())
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[len(b)] / max(1, len(a), len(b))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def read(image: Image.Image) -> list[TextLine]:
    """What OCR reads in an image."""
    return read_lines(to_bgr(image))


def reading(lines: list[TextLine], text: str) -> TextLine | None:
    """The line that reads `text` (normalised edit distance at most 0.1), if any."""
    best = min(lines, key=lambda line: edit_distance(line.text, text), default=None)
    return best if best is not None and edit_distance(best.text, text) <= 0.1 else None


def grown(box: Box, by: int) -> Box:
    """`box` grown by `by` pixels on every side."""
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def changed_outside(parent: Image.Image, result: Image.Image, boxes: list[Box]) -> int:
    """How many pixels differ between parent and result outside all of `boxes`."""
    diff = np.any(np.asarray(parent) != np.asarray(result), axis=-1)
    for l, t, r, b in boxes:
        diff[max(0, t) : max(0, b), max(0, l) : max(0, r)] = False
    return int(diff.sum())


def repair(image: Image.Image, instructions: str | None = None, **fields) -> tuple[Image.Image, str]:
    """Run the TEXT repair at medium strength."""
    return repair_text(EditRequest(kind="TEXT", image=image, instructions=instructions, **fields), 1.0)


def check_rewritten(parent: Image.Image, result: Image.Image, old: TextLine, wrong: str, wanted: str) -> TextLine:
    """The proof for one repaired line: reads right, in the old box, wrong text gone, nothing else touched."""
    assert result.size == parent.size and result.mode == parent.mode
    lines = read(result)
    new = reading(lines, wanted)
    assert new is not None, f"OCR reads {[line.text for line in lines]}, not {wanted!r}"
    assert iou(new.box, old.box) >= 0.5, (new.box, old.box)
    # The wrong text is gone: no line reads it, nor reads closer to it than to the wanted text.
    assert all(
        edit_distance(line.text, wrong) > 0 and edit_distance(line.text, wanted) <= edit_distance(line.text, wrong)
        for line in lines
        if edit_distance(line.text, wrong) < 0.5
    )
    band = round(0.15 * old.height) + 2
    assert changed_outside(parent, result, [grown(old.box, band), grown(new.box, band)]) == 0
    return new


def test_headline_is_rewritten_in_its_own_box_in_its_own_colour():
    """'The headline should read "NEW FLAVOUR"' fixes the misspelt headline in place; the footer is untouched."""
    parent, boxes = poster(headline="NEW FLAVER", footer="Limited offer")
    old = {line.text: line for line in read(parent)}
    assert set(old) == {"NEW FLAVER", "Limited offer"}
    result, notes = repair(parent, 'The headline should read "NEW FLAVOUR"')
    save(result, "text_headline")
    new = check_rewritten(parent, result, old["NEW FLAVER"], "NEW FLAVER", "NEW FLAVOUR")
    footer = boxes["footer"]
    assert np.array_equal(np.asarray(parent.crop(footer)), np.asarray(result.crop(footer)))
    # The new lettering keeps the old yellow: the brightest pixels of the new box are yellow, not white.
    pixels = np.asarray(result.crop(new.box)).reshape(-1, 3).astype(int)
    glyph = pixels[pixels.sum(axis=1) > 480]
    assert len(glyph) > 500 and np.abs(np.median(glyph, axis=0) - (250, 236, 60)).max() < 25
    # Centred as it was: the new ink's centre is where the old one's was.
    assert abs((new.box[0] + new.box[2]) / 2 - (old["NEW FLAVER"].box[0] + old["NEW FLAVER"].box[2]) / 2) < 12
    assert '"NEW FLAVER"' in notes and '"NEW FLAVOUR"' in notes


def test_headline_instruction_fixes_the_headline_even_when_the_footer_looks_closer():
    """The issue's case: the footer reads almost the quoted text, yet the headline is what is named."""
    parent, boxes = poster(512, 512, headline="SUMMER SALE", footer="NEW FLAVER")
    old = {line.text: line for line in read(parent)}
    result, _ = repair(parent, 'The headline should read "NEW FLAVOUR"')
    save(result, "text_headline_named")
    check_rewritten(parent, result, old["SUMMER SALE"], "SUMMER SALE", "NEW FLAVOUR")
    footer = grown(boxes["footer"], 4)
    assert np.array_equal(np.asarray(parent.crop(footer)), np.asarray(result.crop(footer)))


def test_concept_text_fixes_the_line_most_like_it():
    """Without quotes the run's intended text is used, on the line it most resembles (here the footer)."""
    parent, boxes = poster(512, 512, headline="SUMMER SALE", footer="Limted offer")
    old = {line.text: line for line in read(parent)}
    result, notes = repair(parent, "fix the typo", concept=Concept(intended_text="Limited offer"))
    save(result, "text_concept_footer")
    check_rewritten(parent, result, old["Limted offer"], "Limted offer", "Limited offer")
    headline = grown(boxes["headline"], 4)
    assert np.array_equal(np.asarray(parent.crop(headline)), np.asarray(result.crop(headline)))
    assert "the image's concept" in notes


def test_a_left_aligned_line_stays_left_aligned_and_rgba_keeps_its_alpha():
    """The new text starts where the old one did; a transparent parent comes back RGBA with its alpha."""
    base = Image.fromarray(texture(640, 400, seed=3))
    ImageDraw.Draw(base).text((40, 300), "Fre delivery", font=known_font(34), fill=(20, 20, 60))
    alpha = Image.new("L", base.size, 255)
    alpha.paste(0, (0, 0, 60, 60))
    parent = base.copy()
    parent.putalpha(alpha)
    old = read(base)[0]
    result, _ = repair(parent, 'It should say "Free delivery"')
    save(result, "text_left_aligned")
    assert result.mode == "RGBA" and np.array_equal(np.asarray(result)[:, :, 3], np.asarray(alpha))
    new = check_rewritten(parent, result.convert("RGBA"), old, "Fre delivery", "Free delivery")
    assert abs(new.box[0] - old.box[0]) <= 6


def test_selection_picks_the_line_and_an_empty_selection_is_refused():
    """A rectangle says which line; one with no text in it fails clearly instead of writing anywhere."""
    parent, boxes = poster(512, 512, headline="BIG SALE", footer="BIG SALE")
    footer = boxes["footer"]
    rect = Rect(0.1, footer[1] / 512 - 0.03, 0.8, (footer[3] - footer[1]) / 512 + 0.06)
    result, _ = repair(parent, '"BIG DEAL"', rects=[rect])
    lines = read(result)
    assert reading(lines, "BIG DEAL") is not None and reading(lines, "BIG DEAL").box[1] > 256
    headline = grown(boxes["headline"], 4)
    assert np.array_equal(np.asarray(parent.crop(headline)), np.asarray(result.crop(headline)))
    with pytest.raises(ProviderError, match="No text was found in the selected area"):
        repair(parent, '"BIG DEAL"', rects=[Rect(0.0, 0.4, 0.3, 0.2)])


@pytest.mark.parametrize(
    ("image", "instructions", "message"),
    [
        (Image.fromarray(texture(320, 240)), '"HELLO"', "No text was found in the image"),
        (poster(512, 512, headline="HELLO", footer="WORLD")[0], 'The headline should read "HELLO"', "already reads"),
        (poster(512, 512, headline="SUMMER", footer="ORANGE")[0], '"PQXZ 77"', "unclear"),
        (poster(512, 512)[0], "fix the text", "What the text should read is unknown"),
    ],
)
def test_nothing_to_fix_fails_with_a_clear_message(image, instructions, message):
    """No text, text already right, no line resembling the wanted text, nothing to write: a clear failure."""
    with pytest.raises(ProviderError, match=message) as caught:
        repair(image, instructions)
    assert caught.value.kind == "bad_request"


@pytest.mark.parametrize(
    ("instructions", "expected"),
    [
        ('The headline should read "NEW FLAVOUR"', "NEW FLAVOUR"),
        ("It should say \u201cSummer  sale\u201d", "Summer sale"),
        ("don't touch it, write 'OPEN'", "OPEN"),
        ("no quotes here", None),
    ],
)
def test_quoted_text(instructions, expected):
    """The first quoted string, with any kind of quotes, whitespace collapsed."""
    assert quoted_text(instructions) == expected


def test_position_words_inside_the_quotes_do_not_count():
    """'It should read "TOP DEALS"' names no position: the line most like the text is fixed, not the top one."""
    lines = [TextLine("SUMMER SALE", (100, 50, 400, 100), 0.99), TextLine("TOP DEELS", (150, 400, 350, 430), 0.99)]
    assert choose_line(lines, "TOP DEALS", 'It should read "TOP DEALS"', [], 500).text == "TOP DEELS"
    assert choose_line(lines, "TOP DEALS", 'The headline should read "TOP DEALS"', [], 500).text == "SUMMER SALE"
    assert choose_line(lines, "TOP DEALS", 'Footer: "TOP DEALS"', [], 500).text == "TOP DEELS"


def test_a_concept_text_in_pieces_fixes_the_piece_the_image_gets_wrong():
    """ "Summer Sale | 50% off everything" set as two lines: the misspelt tagline is fixed with its own piece."""
    pieces = concept_pieces("Summer Sale | 50% off everything")
    assert pieces == ["Summer Sale | 50% off everything", "Summer Sale", "50% off everything"]
    assert concept_pieces("NEW FLAVOUR\nLimited offer. Get yours!") == [
        "NEW FLAVOUR Limited offer. Get yours!",
        "NEW FLAVOUR",
        "Limited offer.",
        "Get yours!",
    ]
    assert concept_pieces("Coca-Cola zero") == ["Coca-Cola zero"]
    lines = [
        TextLine("SUMMER SALE", (100, 50, 400, 100), 0.99),
        TextLine("50% off everyting", (150, 400, 350, 430), 0.99),
    ]
    assert closest_piece(lines, pieces, []) == "50% off everything"
    parent, _ = poster(512, 512, headline="SUMMER SALE", footer="50% off everyting")
    result, notes = repair(parent, None, concept=Concept(intended_text="Summer Sale | 50% off everything"))
    assert reading(read(result), "50% off everything") is not None and reading(read(result), "SUMMER SALE") is not None
    assert '"50% off everything"' in notes


def test_refusal_rules():
    """TEXT needs quoted or concept text; SUBJECT needs a reference; otherwise the engine tries."""
    assert "quotes" in text_subject_refusal("TEXT", "fix the typo", False, None)
    assert text_subject_refusal("TEXT", "fix the typo", False, "SALE") is None
    assert text_subject_refusal("TEXT", 'read "SALE"', False, None) is None
    assert "reference" in text_subject_refusal("SUBJECT", "make it a can", False, None)
    assert text_subject_refusal("SUBJECT", None, True, None) is None
    assert text_subject_refusal("PROMPT", None, False, None) is None


def test_one_opencv_build_and_ocr_models_inside_the_installed_package():
    """The OCR dependency brings no second cv2 build, and its models are files of the installed wheel."""
    builds = set()
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("opencv-") or name.startswith("opencv_"):
            builds.add(name)
    assert len(builds) == 1, builds
    models = sorted(p.name for p in (Path(rapidocr.__file__).parent / "models").glob("*.onnx"))
    assert any("det" in m for m in models) and any("rec" in m for m in models)


def shadowed_and_banner_poster() -> Image.Image:
    """A poster with a white headline casting a dark drop shadow, and a footer on a flat red banner."""
    image = Image.fromarray(texture(768, 768, seed=6))
    draw = ImageDraw.Draw(image)
    face = known_font(64)
    draw.text((389, 105), "FRESH TASTE", font=face, fill=(30, 20, 10), anchor="mm")
    draw.text((384, 100), "FRESH TASTE", font=face, fill=(255, 255, 255), anchor="mm")
    draw.rectangle((0, 640, 768, 720), fill=(180, 20, 40))
    draw.text((40, 680), "Only 2.99 this wek", font=known_font(34), fill=(255, 240, 200), anchor="lm")
    return image


def test_a_drop_shadow_goes_with_its_letters_and_comes_back_under_the_new_ones():
    """No orphan shadow of the old letters remains; the new letters get a shadow of the same colour and offset."""
    parent = shadowed_and_banner_poster()
    old = {line.text: line for line in read(parent)}["FRESH TASTE"]
    result, _ = repair(parent, 'The headline should read "FRESH FLAVOUR"')
    save(result, "text_shadow")
    new = check_rewritten(parent, result, old, "FRESH TASTE", "FRESH FLAVOUR")
    box = np.asarray(result.crop(grown(old.box, 8) if grown(old.box, 8)[0] >= 0 else old.box)).astype(int)
    white = (box.min(axis=2) > 200).astype(np.uint8)
    dark = box.sum(axis=2) < 150
    near_letters = cv2.dilate(white, np.ones((17, 17), np.uint8)) > 0
    assert dark.sum() > 0.1 * white.sum()  # the new letters have their shadow
    assert (dark & ~near_letters).sum() == 0  # and no shadow is left without its letter
    assert new.box[3] <= old.box[3] + 8


def test_text_on_a_flat_banner_leaves_the_banner_flat():
    """Where the old letters were, the banner is its own plain red again, not a patch of something else."""
    parent = shadowed_and_banner_poster()
    old = {line.text: line for line in read(parent)}["Only 2.99 this wek"]
    result, _ = repair(parent, 'The footer should read "Only 2.99 this week"')
    save(result, "text_banner")
    check_rewritten(parent, result, old, "Only 2.99 this wek", "Only 2.99 this week")
    banner = np.asarray(result)[644:716].astype(int)
    letters = (np.abs(banner - (255, 240, 200)).max(axis=2) < 120).astype(np.uint8)
    plain = cv2.dilate(letters, np.ones((7, 7), np.uint8)) == 0
    assert np.abs(banner[plain] - (180, 20, 40)).max() <= 10


def test_small_print_is_read_on_large_images_and_split_words_are_one_line():
    """Detection scales with the image, so 12 px print on a 1536² image is found (not at a fixed 640 px)."""
    image, _ = poster(1536, 1536, headline="SUMMER SALE", footer="Big savings")
    ImageDraw.Draw(image).text((80, 1450), "Terms apply, see store", font=known_font(12), fill=(255, 255, 255))
    assert [line.text for line in read(image)][-1] == "Terms apply, see store"
    pieces = [
        TextLine("Small print size", (61, 128, 208, 149), 0.99),
        TextLine("16", (202, 131, 227, 144), 0.99),
        TextLine("far away", (700, 128, 800, 149), 0.99),
    ]
    assert [(line.text, line.box) for line in merge_words(pieces)] == [
        ("Small print size 16", (61, 128, 227, 149)),
        ("far away", (700, 128, 800, 149)),
    ]


def test_warm_up_loads_both_models():
    """After warm_up the detector and the recogniser are loaded, so the first repair does not load them."""
    ocr.warm_up()
    engine = ocr._engine()
    assert engine.text_det is not None and engine.text_rec is not None


def test_condensed_lettering_gets_condensed_replacement():
    """Lettering narrower than the bundled font is matched: the new text keeps the old width per letter."""
    base = Image.fromarray(texture(768, 384, seed=8))
    face = known_font(60)
    l, t, r, b = face.getbbox("MEGA DEEL", anchor="la")
    wide = Image.new("L", (r - l + 4, b - t + 4), 0)
    ImageDraw.Draw(wide).text((2 - l, 2 - t), "MEGA DEEL", font=face, fill=255, anchor="la")
    narrow = wide.resize((round(wide.width * 0.7), wide.height), Image.Resampling.BICUBIC)
    base.paste((240, 60, 40), (200, 150, 200 + narrow.width, 150 + narrow.height), narrow)
    old = read(base)[0]
    result, _ = repair(base, 'It should read "MEGA DEAL"')
    save(result, "text_condensed")
    new = check_rewritten(base, result, old, "MEGA DEEL", "MEGA DEAL")
    assert abs((new.box[2] - new.box[0]) - (old.box[2] - old.box[0])) <= 0.08 * (old.box[2] - old.box[0])


def test_a_ring_read_as_a_letter_is_not_taken_for_the_headline():
    """A headline set on two lines already reads the intended text, whatever a stray shape OCR reads as 'O'."""
    from churns_gql.providers.offline.ocr import TextLine
    from churns_gql.providers.offline.text import choose_line

    lines = [
        TextLine("O", (400, 640, 680, 920), 0.6),
        TextLine("ICED", (400, 1630, 680, 1720), 0.99),
        TextLine("LEMON TEA", (200, 1770, 880, 1860), 0.99),
    ]
    with pytest.raises(ProviderError, match='already reads "ICED LEMON TEA"'):
        choose_line(lines, "ICED LEMON TEA", "make the headline legible", [], 1920)
    fixed = choose_line(lines[:2] + [TextLine("LEMNO TEA", (200, 1770, 880, 1860), 0.9)], "LEMON TEA", None, [], 1920)
    assert fixed.text == "LEMNO TEA"


@pytest.mark.parametrize(
    ("file", "wrong", "wanted", "face"),
    [
        ("DejaVuSerif-Bold.ttf", "GRAND OPENNING", "GRAND OPENING", "DejaVu Serif Bold"),
        ("LiberationSerif-Italic.ttf", "Summer Sael", "Summer Sale", "Liberation Serif Italic"),
        ("DejaVuSansMono.ttf", "CODE RED", "CODE RAD", "DejaVu Sans Mono"),
    ],
)
def test_lettering_is_redrawn_in_the_installed_face_it_looks_like(file, wrong, wanted, face):
    """Serif, italic and monospaced lines come back in their own kind of face, not the plain sans."""
    from churns_gql.providers.offline import fonts
    from churns_gql.providers.offline.glyphs import find_glyphs

    base = Image.fromarray(texture(900, 300, seed=5))
    ImageDraw.Draw(base).text((60, 100), wrong, font=ImageFont.truetype(file, 72), fill=(250, 240, 60))
    old = read(base)[0]
    result, notes = repair(base, f'It should read "{wanted}"')
    save(result, f"text_face_{face.replace(' ', '_').lower()}")
    new = check_rewritten(base, result, old, wrong, wanted)
    assert f"in {face}," in notes
    letters = find_glyphs(to_bgr(result), new.box).letters
    assert letters is not None
    own = next(f for f in fonts.installed() if f.name == face)
    assert fonts.likeness(letters, new.text, own) > fonts.likeness(letters, new.text, fonts.default()) + 0.1
