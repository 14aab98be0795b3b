"""Proof of the offline PROMPT edits on synthetic scenes with known truth; results saved under test-artifacts/."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from churns_gql.imaging import feather_px
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.offline import LocalImageEditor
from churns_gql.providers.offline.background import subject_mask
from churns_gql.providers.offline.prompt import TONAL_FEATHER
from tests.providers.offline_scenes import border_step, identical_outside, lab, psnr, save, scene

EDITOR = LocalImageEditor()
SCENE = scene()


async def edit(
    prompt: str, rects=(), creativity: int = 2, image: Image.Image | None = None, **extra
) -> tuple[Image.Image, str]:
    """Run one PROMPT edit on the scene (or `image`) and return its image and notes."""
    request = EditRequest(
        kind="PROMPT", image=image or SCENE.image, prompt=prompt, rects=list(rects), creativity=creativity, **extra
    )
    result = await EDITOR.edit(request)
    assert result.image.size == request.image.size and result.cost_usd == 0.0
    return result.image, result.notes


def crop(image: Image.Image, box) -> np.ndarray:
    """The box's pixels as an array."""
    return np.asarray(image)[box[1] : box[3], box[0] : box[2]]


GROUND = (330, 200, 500, 370)
"""Textured ground with nothing on it: where fine detail is measured."""


def detail(image: Image.Image) -> float:
    """Fine detail of the bare ground: the variance of its Laplacian."""
    return float(cv2.Laplacian(cv2.cvtColor(crop(image, GROUND), cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())


# --- tonal edits in a rectangle -----------------------------------------------------------------


async def test_warmer_in_the_sky_is_feathered_and_confined():
    """Warmer raises b* inside, leaves everything beyond the feather band byte-identical, and shows no step."""
    box = SCENE.sky
    image, notes = await edit("make it warmer", [SCENE.rect(box)])
    save("prompt_warmer_sky", SCENE.image, image)
    band = round(feather_px(box) * TONAL_FEATHER) + 1
    assert identical_outside(image, SCENE.image, box, band)
    before, after = lab(SCENE.image), lab(image)
    assert crop(Image.fromarray(after[..., 2]), box).mean() > crop(Image.fromarray(before[..., 2]), box).mean() + 5
    near, far = border_step(after[..., 2], box, band)
    assert near <= 1.5 * far, (near, far)
    assert notes == "applied to the selected area: warmer"


async def test_warmer_in_two_rectangles_has_no_hard_edges():
    """Regression: warmer in two rectangles painted hard-edged tinted boxes; now both blend in and nothing else moves."""
    boxes = [SCENE.sky, (300, 20, 480, 120)]
    image, _ = await edit("make it warmer", [SCENE.rect(b) for b in boxes])
    save("prompt_warmer_two_rects", SCENE.image, image)
    before, after = lab(SCENE.image)[..., 2], lab(image)[..., 2]
    keep = np.ones(before.shape, bool)
    for box in boxes:
        band = round(feather_px(box) * TONAL_FEATHER) + 1
        keep[max(0, box[1] - band) : box[3] + band, max(0, box[0] - band) : box[2] + band] = False
        inside = (slice(box[1], box[3]), slice(box[0], box[2]))
        assert after[inside].mean() > before[inside].mean() + 5
        near, far = border_step(after, box, band)
        assert near <= 1.5 * far, (box, near, far)
    assert (np.asarray(image)[keep] == np.asarray(SCENE.image)[keep]).all()


async def test_cooler_on_textured_ground_is_feathered_and_scales_with_creativity():
    """Cooler in a rectangle of textured ground lowers b* inside, more at each creativity level, with no step at the
    border and nothing changed beyond the feather band."""
    box = GROUND
    band = round(feather_px(box) * TONAL_FEATHER) + 1
    inside = (slice(box[1], box[3]), slice(box[0], box[2]))
    base = lab(SCENE.image)[..., 2][inside].mean()
    shifts, images = [], []
    for creativity in (1, 2, 3):
        image, _ = await edit("make it cooler", [SCENE.rect(box)], creativity=creativity)
        images.append(image)
        assert identical_outside(image, SCENE.image, box, band)
        after = lab(image)[..., 2]
        shifts.append(base - after[inside].mean())
        near, far = border_step(after, box, band)
        assert near <= 1.5 * far, (creativity, near, far)
    save("prompt_cooler_ground_creativity_1_2_3", *images)
    assert 0 < shifts[0] < shifts[1] < shifts[2], shifts


async def test_creativity_scales_the_background_blur():
    """A stronger creativity blurs the background more; the product stays byte-identical at every level."""
    subtle, _ = await edit("blur the background", [SCENE.rect(SCENE.subject)], creativity=1)
    strong, _ = await edit("blur the background", [SCENE.rect(SCENE.subject)], creativity=3)
    save("prompt_background_blur_creativity_1_3", subtle, strong)
    assert detail(strong) < detail(subtle) < detail(SCENE.image)
    assert unchanged_on(subtle, product_core()) and unchanged_on(strong, product_core())


async def test_the_border_measure_catches_a_hard_edge():
    """The same warm shift pasted with a hard edge fails the border measure, so the check above can fail."""
    box = SCENE.sky
    warm, _ = await edit("make it warmer")
    hard = SCENE.image.copy()
    hard.paste(warm.crop(box), box[:2])
    band = round(feather_px(box) * TONAL_FEATHER) + 1
    near, far = border_step(lab(hard)[..., 2], box, band)
    assert near > 1.5 * far


@pytest.mark.parametrize(
    ("prompt", "measure", "direction"),
    [
        ("cooler", lambda im: lab(im)[..., 2].mean(), -1),
        ("brighter", lambda im: lab(im)[..., 0].mean(), 1),
        ("darker", lambda im: lab(im)[..., 0].mean(), -1),
        ("more contrast", lambda im: lab(im)[..., 0].std(), 1),
        ("less contrast", lambda im: lab(im)[..., 0].std(), -1),
        ("more saturated", lambda im: np.hypot(lab(im)[..., 1], lab(im)[..., 2]).mean(), 1),
        ("desaturate", lambda im: np.hypot(lab(im)[..., 1], lab(im)[..., 2]).mean(), -1),
        ("sharpen", lambda im: detail(im), 1),
        ("blur", lambda im: detail(im), -1),
        ("denoise", lambda im: detail(im), -1),
        ("make it bluer", lambda im: -lab(im)[..., 2].mean(), 1),
    ],
)
async def test_each_tonal_edit_moves_its_measure(prompt, measure, direction):
    """Every tonal intent changes the quantity it names, in the right direction, on the whole image."""
    image, notes = await edit(prompt)
    assert direction * (measure(image) - measure(SCENE.image)) > 0
    assert notes.startswith("applied: ")


async def test_amounts_are_honoured():
    """ "20% brighter" lifts the mean lightness of the mid-tones by about 20 %, "40%" by about twice that."""
    grey = Image.new("RGB", (64, 64), (119, 119, 119))  # L* ≈ 50
    twenty, notes = await edit("20% brighter", image=grey)
    forty, _ = await edit("make it brighter by 40%", image=grey)
    base = lab(grey)[..., 0].mean()
    assert 0.17 < lab(twenty)[..., 0].mean() / base - 1 < 0.23
    assert 0.33 < lab(forty)[..., 0].mean() / base - 1 < 0.43
    assert notes == "applied: brighter 20%"


async def test_black_and_white_sepia_and_vignette():
    """Black and white leaves no chroma; sepia is a warm monochrome; a vignette darkens corners, not the centre."""
    mono, _ = await edit("black and white")
    spread = np.asarray(mono, np.int16)
    assert np.abs(spread.max(axis=2) - spread.min(axis=2)).max() <= 2
    sepia, _ = await edit("sepia")
    sepia_lab = lab(sepia)
    assert sepia_lab[..., 2].mean() > 5 and sepia_lab[..., 2].std() < 6
    vignette, _ = await edit("vignette")
    before, after = lab(SCENE.image)[..., 0], lab(vignette)[..., 0]
    assert after[:20, :20].mean() < before[:20, :20].mean() - 5
    h, w = after.shape
    assert (
        abs(
            after[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].mean()
            - before[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].mean()
        )
        < 0.5
    )
    save("prompt_mono_sepia_vignette", mono, sepia, vignette)


async def test_creativity_scales_strength():
    """Creativity 3 moves b* clearly more than creativity 1."""
    base = lab(SCENE.image)[..., 2].mean()
    subtle, _ = await edit("warmer", creativity=1)
    strong, _ = await edit("warmer", creativity=3)
    assert lab(strong)[..., 2].mean() - base > 2.5 * (lab(subtle)[..., 2].mean() - base) > 0


# --- removal ---------------------------------------------------------------------------------------


async def test_removal_restores_the_background():
    """Removing the logo gets within 25 dB of the true background, far better than leaving it, with no seam."""
    box = SCENE.logo
    image, notes = await edit("remove the logo", [SCENE.rect(box)])
    save("prompt_remove_logo", SCENE.image, image, SCENE.clean)
    assert psnr(image, SCENE.clean, box) >= 25.0
    assert psnr(image, SCENE.clean, box) > psnr(SCENE.image, SCENE.clean, box) + 10
    assert identical_outside(image, SCENE.image, box, feather_px(box))
    grey = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    near, far = border_step(grey, box, 3)
    assert near <= 1.5 * far, (near, far)
    assert notes.startswith("removed the logo: painted over")


async def test_removal_at_high_creativity_still_stays_near_the_box():
    """Creativity widens the cleaned margin, never beyond the box's feather band."""
    box = SCENE.logo
    image, _ = await edit("erase the logo", [SCENE.rect(box)], creativity=3)
    assert identical_outside(image, SCENE.image, box, feather_px(box))
    assert psnr(image, SCENE.clean, box) >= 25.0


async def test_removal_without_a_rectangle_fails_with_the_reason():
    """A job that reaches the editor without a rectangle fails with the same words refineImage uses."""
    with pytest.raises(ProviderError) as caught:
        await edit("remove the logo")
    assert caught.value.kind == "bad_request" and "rectangle" in caught.value.message


# --- background ------------------------------------------------------------------------------------


def product_core(margin: int = 3) -> np.ndarray:
    """The product's pixels at least `margin` px in from its edge."""
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return cv2.erode(SCENE.product.astype(np.uint8), kernel) > 0


def unchanged_on(image: Image.Image, where: np.ndarray) -> bool:
    """Whether the image equals the scene byte for byte on `where`."""
    return bool((np.asarray(image)[where] == np.asarray(SCENE.image)[where]).all())


async def test_grabcut_finds_the_product_from_its_rectangle_and_from_the_centre():
    """Seeded by a loose rectangle or by the centre prior, GrabCut's subject overlaps the product well."""
    rgb = np.asarray(SCENE.image)
    truth = np.zeros(rgb.shape[:2], bool)
    l, t, r, b = SCENE.subject
    truth[t:b, l:r] = True
    loose = (l - 30, t - 20, r + 30, b + 15)
    for boxes, seed in (([loose], "the selected area"), ([], "the middle of the image")):
        mask, where = subject_mask(rgb, boxes)
        inter, union = (truth & (mask > 0)).sum(), (truth | (mask > 0)).sum()
        assert where == seed and inter / union > 0.75, (boxes, inter / union)


async def test_a_flat_image_has_no_subject_to_find():
    """With nothing to separate, the edit fails with advice instead of cutting out a made-up shape."""
    with pytest.raises(ProviderError) as caught:
        await edit("blur the background", image=Image.new("RGB", (120, 90), (90, 140, 200)))
    assert caught.value.kind == "bad_request" and "rectangle" in caught.value.message


async def test_blur_the_background_changes_only_outside_the_subject():
    """The product is byte-identical; the background loses fine detail."""
    image, notes = await edit("blur the background", [SCENE.rect(SCENE.subject)])
    save("prompt_background_blur", SCENE.image, image)
    assert unchanged_on(image, product_core())
    assert detail(image) < 0.3 * detail(SCENE.image)
    assert notes == "background blurred around the subject found by GrabCut in the selected area"


async def test_replace_the_background_with_white_keeps_the_product():
    """Outside the product everything turns white; the product is byte-identical; no dark fringe is left far out."""
    image, notes = await edit("replace the background with white", [SCENE.rect(SCENE.subject)])
    save("prompt_background_white", SCENE.image, image)
    assert unchanged_on(image, product_core())
    grown = cv2.dilate(SCENE.product.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert (np.asarray(image)[~grown] >= 250).all()
    assert "background replaced with a solid colour" in notes


async def test_no_sliver_of_the_old_background_stays_beside_the_subject():
    """Regression: where the horizon meets the bottle, a one-pixel sliver of sky and ground stayed beside it (14
    pixels over 60 levels off the white): they matched neither side's mean colour. Now the pixels right next to
    the product are the new backdrop, and the product's own edge is kept."""
    for rects in ([SCENE.rect(SCENE.subject)], []):
        image, _ = await edit("replace the background with white", rects)
        product = SCENE.product.astype(np.uint8)
        beside = (cv2.dilate(product, np.ones((3, 3), np.uint8)) > 0) & ~SCENE.product
        off_white = 255 - np.asarray(image).astype(int)[beside].min(axis=1)
        assert int((off_white > 60).sum()) == 0, int((off_white > 60).sum())
        edge = SCENE.product & ~(cv2.erode(product, np.ones((3, 3), np.uint8)) > 0)
        assert unchanged_on(image, edge)


async def test_gradient_background_without_a_mask_uses_the_centre_prior():
    """With no rectangle the centred product is kept and the backdrop becomes the named gradient."""
    image, notes = await edit("replace the background with a navy to pink gradient")
    save("prompt_background_gradient", SCENE.image, image)
    assert unchanged_on(image, product_core())
    top, bottom = np.asarray(image)[2, 5].astype(int), np.asarray(image)[-3, 5].astype(int)
    assert top[2] > top[0] and bottom[0] > 200  # navy at the top, pink at the bottom
    assert notes.endswith("around the subject found by GrabCut in the middle of the image")


# --- the editor around the edits -------------------------------------------------------------------


async def test_unsupported_prompt_fails_in_the_editor_too():
    """A job that slipped past refineImage (e.g. queued under another provider) fails instead of COMPLETING unchanged."""
    with pytest.raises(ProviderError) as caught:
        await edit("add a surfer in the background")
    assert "cannot add or draw new things" in caught.value.message


async def test_partial_preview_is_small_and_weaker():
    """on_partial gets one preview, index 0, at most 512 px, changing less than the final edit."""
    big = SCENE.image.resize((2400, 1800))
    partials: list[tuple[Image.Image, int]] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record each partial image and its index."""
        partials.append((image, index))

    image, _ = await edit("warmer", image=big, on_partial=on_partial)
    assert [(p.size, i) for p, i in partials] == [((512, 384), 0)]
    small = big.resize((512, 384))
    assert (
        0
        < lab(partials[0][0])[..., 2].mean() - lab(small)[..., 2].mean()
        < lab(image)[..., 2].mean() - lab(big)[..., 2].mean()
    )


async def test_a_preview_is_streamed_only_for_an_edit_that_takes_long():
    """A tonal edit of a 1 MP image (~0.1 s) streams no preview: one would cost half as much again and arrive a
    moment before the result. A removal, a background change, or a tonal edit from 4 MP on, stream one."""
    big = SCENE.image.resize((1024, 1024))
    streamed: list[int] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record the preview's index."""
        streamed.append(index)

    await edit("make it warmer", [SCENE.rect(SCENE.sky)], image=big, on_partial=on_partial)
    await edit("much brighter", image=big, on_partial=on_partial)
    assert streamed == []
    await edit("remove the logo", [SCENE.rect(SCENE.logo)], image=big, on_partial=on_partial)
    assert streamed == [0]
    await edit("make the background blue", image=big, on_partial=on_partial)
    assert streamed == [0, 0]
    await edit("much brighter", image=SCENE.image.resize((2000, 2000)), on_partial=on_partial)
    assert streamed == [0, 0, 0]


async def test_alpha_is_kept_and_notes_list_everything():
    """An RGBA input keeps its alpha; notes list removal, tonal edits and ignored words in order."""
    rgba = SCENE.image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    image, notes = await edit("remove the logo, 10% warmer, with a dragon", [SCENE.rect(SCENE.logo)], image=rgba)
    assert image.mode == "RGBA" and image.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    assert notes.startswith("removed the logo: ")
    assert notes.endswith("; applied to the selected area: warmer 10%; ignored: dragon")


async def test_edits_are_deterministic():
    """The same request gives the same bytes (GrabCut's random start is seeded)."""
    first, _ = await edit("blur the background, sharpen", [SCENE.rect(SCENE.subject)])
    second, _ = await edit("blur the background, sharpen", [SCENE.rect(SCENE.subject)])
    assert first.tobytes() == second.tobytes()


async def test_blur_smooths_and_sharpen_overshoots_a_step():
    """Blur puts in-between values on a step edge; sharpen overshoots both sides and leaves flat areas alone."""
    step = Image.new("RGB", (64, 64), (192, 192, 192))
    step.paste((64, 64, 64), (0, 0, 32, 64))
    blurred, _ = await edit("blur", image=step)
    sharpened, _ = await edit("sharpen", image=step)
    assert 64 < blurred.getpixel((31, 32))[0] < blurred.getpixel((32, 32))[0] < 192
    assert sharpened.getpixel((31, 32))[0] < 64 and sharpened.getpixel((32, 32))[0] > 192
    assert all(abs(c - 64) <= 1 for c in sharpened.getpixel((5, 32)))


async def test_a_named_colour_tints_grey_towards_it_and_notes_say_what_was_ignored():
    """ "Make it blue" pulls grey towards blue; unknown words are listed as ignored."""
    grey = Image.new("RGB", (40, 40), (128, 128, 128))
    image, notes = await edit("make it blue with sparkles and a dragon", image=grey)
    r, g, b = image.getpixel((20, 20))
    assert b > 128 + 10 and b > r + 10 and b > g + 10
    assert notes == "applied: tint blue; ignored: sparkles, dragon"
