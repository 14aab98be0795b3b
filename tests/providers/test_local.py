"""What every kind of offline edit shares: determinism, sizes, modes, bad rectangles (details: test_offline_*)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageStat

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


# --- every kind -----------------------------------------------------------------------------


def _disc() -> Image.Image:
    """A red disc with transparent surroundings: a reference with its own alpha."""
    from PIL import ImageDraw

    reference = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(reference).ellipse((6, 6, 58, 58), fill=(220, 30, 30, 255))
    return reference


KINDS = [
    {"kind": "PROMPT", "prompt": "warmer, sharper, more contrast"},
    {"kind": "SUBJECT", "reference": _disc(), "rects": [Rect(0.3, 0.3, 0.4, 0.3)]},
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
