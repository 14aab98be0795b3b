"""Tests for the offline editor's TEXT and SUBJECT repairs and what every kind shares (PROMPT: test_offline_*)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageStat

from churns_gql.concepts import Concept
from churns_gql.providers.base import EditRequest, ProviderError, Rect
from churns_gql.providers.local import LocalImageEditor, quoted_text

EDITOR = LocalImageEditor()


def gradient(width: int = 120, height: int = 90) -> Image.Image:
    """An RGB image whose every channel varies, so each adjustment has something to change."""
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = Image.linear_gradient("L").rotate(90).resize((width, height))
    return Image.merge("RGB", (horizontal, vertical, Image.new("L", (width, height), 128)))


def blank_outside(image: Image.Image, box: tuple[int, int, int, int]) -> bytes:
    """The image's bytes with `box` painted black, to compare everything outside it."""
    copy = image.copy()
    copy.paste((0,) * len(copy.getbands()), box)
    return copy.tobytes()


def luminance(image: Image.Image) -> float:
    """Mean perceived brightness."""
    return ImageStat.Stat(image.convert("L")).mean[0]


async def edit(**kwargs) -> tuple[Image.Image, str]:
    """Run one edit and return its image and notes."""
    result = await EDITOR.edit(EditRequest(**kwargs))
    return result.image, result.notes


# --- TEXT -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instructions", "expected"),
    [
        ('text: "SALE 50%"', "SALE 50%"),
        ("change the text to 'Summer Sale'", "Summer Sale"),
        ("don't shout, it's fine: \u201cQuiet  Days\u201d", "Quiet Days"),
        ("use \u2018Hi\u2019 then 'Bye'", "Hi"),
        ("make it bigger", None),
        ("don't change it's colour", None),
    ],
)
def test_quoted_text_takes_the_first_quote(instructions, expected):
    """The first double, curly or single-quoted string wins; apostrophes are not quotes."""
    assert quoted_text(instructions) == expected


async def test_text_band_at_bottom_changes_only_the_band():
    """Without rects the text band covers the bottom 18% and nothing else changes."""
    base = gradient(200, 100)
    image, notes = await edit(kind="TEXT", image=base, instructions='text: "SALE 50%"')
    band = (0, 100 - 18, 200, 100)
    assert blank_outside(image, band) == blank_outside(base, band)
    assert image.crop(band).tobytes() != base.crop(band).tobytes()
    assert notes == 're-rendered text "SALE 50%" (from the instructions) on a band at the bottom'


async def test_text_is_drawn_in_a_contrasting_colour():
    """On a dark image the band is dark and the lettering light."""
    base = Image.new("RGB", (300, 200), (30, 40, 60))
    image, _ = await edit(kind="TEXT", image=base, instructions='"HELLO"')
    band = image.crop((0, 164, 300, 200)).convert("L")
    # A dark image gets a dark band with light lettering.
    darkest, lightest = band.getextrema()
    assert darkest < 40 and lightest > 200


async def test_text_comes_from_instructions_before_concept():
    """Quoted instructions beat the concept; the concept's text is used when nothing is quoted."""
    base = gradient(200, 100)
    closed = Concept(intended_text="CLOSED")
    quoted, _ = await edit(kind="TEXT", image=base, instructions='text: "OPEN"', concept=closed)
    from_concept, notes = await edit(kind="TEXT", image=base, concept=Concept(intended_text="OPEN"))
    other, _ = await edit(kind="TEXT", image=base, concept=closed)
    assert quoted.tobytes() == from_concept.tobytes() != other.tobytes()
    assert notes == 're-rendered text "OPEN" (from the image\'s concept) on a band at the bottom'


async def test_text_without_any_known_text_is_a_bad_request():
    """With no quoted text and no concept text the error says to quote it."""
    with pytest.raises(ProviderError) as caught:
        await EDITOR.edit(EditRequest(kind="TEXT", image=gradient(), instructions="fix the typo"))
    assert caught.value.kind == "bad_request"
    assert "quotes" in caught.value.message


async def test_text_inside_rect_leaves_outside_unchanged():
    """With a rect the band fills that rect and nothing outside it changes."""
    base = gradient(240, 160)
    rect = Rect(0.1, 0.1, 0.5, 0.25)
    box = rect.to_pixels(*base.size)
    image, notes = await edit(kind="TEXT", image=base, rects=[rect], instructions='"A much longer headline here"')
    assert blank_outside(image, box) == blank_outside(base, box)
    assert image.crop(box).tobytes() != base.crop(box).tobytes()
    assert f"in the selected area 120×40 at ({box[0]},{box[1]})" in notes


async def test_text_too_long_to_fit_says_so():
    """Text that cannot fit even at the smallest size is reported in the notes."""
    _, notes = await edit(kind="TEXT", image=gradient(40, 40), instructions='"' + "word " * 40 + '"')
    assert notes.endswith("too long to fit fully even at the smallest size")


# --- SUBJECT --------------------------------------------------------------------------------

BLUE = (0, 0, 255)


async def test_subject_composites_reference_into_centre_with_feather():
    """A red reference lands red in the centre, feathered at the edge, corners untouched."""
    base = Image.new("RGB", (200, 200), BLUE)
    reference = Image.new("RGB", (50, 50), (255, 0, 0))
    image, notes = await edit(kind="SUBJECT", image=base, reference=reference)
    r, g, b = image.getpixel((100, 100))
    assert r > 200 and b < 50
    for corner in [(0, 0), (199, 0), (0, 199), (199, 199)]:
        assert image.getpixel(corner) == BLUE
    region = (50, 50, 150, 150)
    assert blank_outside(image, region) == blank_outside(base, region)
    r, g, b = image.getpixel((51, 100))
    assert 0 < r < 255 and 0 < b < 255
    assert notes == "composited the reference into region 100×100 at (50,50) with a 4px feather"


async def test_subject_reference_keeps_aspect_ratio():
    """The reference is fitted inside the region without stretching."""
    base = Image.new("RGB", (200, 200), BLUE)
    reference = Image.new("RGB", (100, 50), (255, 0, 0))
    image, notes = await edit(kind="SUBJECT", image=base, reference=reference)
    # A 2:1 reference in a 100×100 region fills 100×50 and leaves bands above and below.
    assert image.getpixel((100, 60)) == BLUE
    assert image.getpixel((100, 100))[0] > 200
    assert "region 100×50 at (50,75)" in notes


async def test_subject_respects_reference_alpha():
    """Transparent parts of an RGBA reference leave the base showing."""
    base = Image.new("RGB", (200, 200), BLUE)
    reference = Image.new("RGBA", (100, 100), (255, 0, 0, 255))
    reference.paste((255, 0, 0, 0), (0, 0, 50, 100))
    image, _ = await edit(kind="SUBJECT", image=base, reference=reference)
    assert image.getpixel((70, 100)) == BLUE
    assert image.getpixel((130, 100))[0] > 200


async def test_subject_in_rects_stays_inside_them():
    """With a rect the reference goes in it and nothing outside changes."""
    base = gradient(300, 200)
    rect = Rect(0.6, 0.1, 0.3, 0.4)
    box = rect.to_pixels(*base.size)
    image, _ = await edit(kind="SUBJECT", image=base, rects=[rect], reference=Image.new("RGB", (10, 10), "red"))
    assert blank_outside(image, box) == blank_outside(base, box)
    centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    assert image.getpixel(centre) == (255, 0, 0)


async def test_subject_without_reference_emphasises_region():
    """Without a reference the centre region is lifted and the rest untouched."""
    base = gradient(200, 200)
    image, notes = await edit(kind="SUBJECT", image=base, instructions="make the product stand out")
    region = (50, 50, 150, 150)
    assert blank_outside(image, region) == blank_outside(base, region)
    assert luminance(image.crop(region)) > luminance(base.crop(region))
    assert notes.startswith("no reference image: sharpened and lifted the subject region 100×100 at (50,50)")
    assert notes.endswith("instructions are not interpreted offline")


async def test_subject_without_reference_or_instructions_is_a_bad_request():
    """A subject edit with neither reference nor instructions is refused."""
    with pytest.raises(ProviderError) as caught:
        await EDITOR.edit(EditRequest(kind="SUBJECT", image=gradient()))
    assert caught.value.kind == "bad_request"


# --- every kind -----------------------------------------------------------------------------

KINDS = [
    {"kind": "PROMPT", "prompt": "warmer, sharper, more contrast"},
    {"kind": "TEXT", "instructions": 'text: "SALE 50%"'},
    {"kind": "SUBJECT", "reference": Image.new("RGBA", (64, 40), (255, 0, 0, 200))},
    {"kind": "SUBJECT", "instructions": "emphasise it"},
]


@pytest.mark.parametrize("fields", KINDS, ids=lambda f: f["kind"] + ("+ref" if "reference" in f else ""))
async def test_every_kind_is_deterministic_and_keeps_odd_sizes(fields):
    """Every kind gives identical bytes twice, at the input's odd size, for free."""
    base = gradient(333, 517)
    first = await EDITOR.edit(EditRequest(image=base, **fields))
    second = await EDITOR.edit(EditRequest(image=base, **fields))
    assert first.image.size == (333, 517) and first.image.mode == "RGB"
    assert first.image.tobytes() == second.image.tobytes() != base.tobytes()
    assert first.notes == second.notes
    assert first.cost_usd == 0.0 and first.usage is None


async def test_palette_input_comes_back_rgb():
    """A palette image comes back as RGB at the same size."""
    base = gradient().convert("P")
    image, _ = await edit(kind="PROMPT", image=base, prompt="brighter")
    assert image.mode == "RGB" and image.size == base.size


async def test_rects_outside_the_image_are_a_bad_request():
    """Rects that select no pixel are refused."""
    with pytest.raises(ProviderError) as caught:
        request = EditRequest(kind="PROMPT", image=gradient(), prompt="warmer", rects=[Rect(1.2, 0, 0.3, 0.3)])
        await EDITOR.edit(request)
    assert caught.value.kind == "bad_request"


def test_editor_name():
    """The editor registers as 'local'."""
    assert LocalImageEditor.name == "local"
