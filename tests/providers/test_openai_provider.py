"""OpenAIImageEditor against the strict fake OpenAI server, through the real SDK client: sizes, masks, cost, concepts."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageChops

from churns_gql.concepts import Concept
from churns_gql.imaging import feathered_mask
from churns_gql.providers.base import EditRequest, ProviderError, Rect
from churns_gql.providers.openai import CREATIVITY
from tests.fake_openai import EDITS
from tests.providers import openai_harness
from tests.providers.openai_harness import ARTIFACTS, MODEL, base_image, expected_cost, make_editor

# The harness's fixtures, found by pytest under these names.
fake, client, _fresh_requests = openai_harness.fake, openai_harness.client, openai_harness._fresh_requests


async def test_masked_edit_on_the_default_model_keeps_every_pixel_outside_the_band(fake, client):
    """Default model: the parent's own aspect is requested, the mask matches the padded image, outside is the parent."""
    base = base_image()
    rects = [Rect(0.1, 0.1, 0.2, 0.3), Rect(0.6, 0.5, 0.3, 0.4)]
    result = await make_editor(client).edit(
        EditRequest(kind="PROMPT", image=base, prompt="make the sky pink", rects=rects)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("model") == MODEL and sent.field("n") == "1" and sent.field("input_fidelity") is None
    assert sent.field("size") == "1008x672"  # 3:2 exactly, multiples of 16, above the minimum pixel count
    image, mask = sent.images[0].image(), sent.mask.image()
    assert image.size == mask.size == (900, 600)  # same aspect: no padding needed
    assert ImageChops.difference(image.convert("RGB"), base).getbbox() is None
    weight = feathered_mask(base.size, rects)
    alpha = np.asarray(mask.getchannel("A"))
    assert np.array_equal(alpha == 0, weight > 0)  # editable exactly where the result may differ
    got, want = np.asarray(result.image), np.asarray(base)
    assert np.array_equal(got[weight == 0], want[weight == 0])
    inside = got[100:220, 120:240].astype(int)
    assert np.abs(inside - (255 - want[100:220, 120:240].astype(int))).mean() < 4  # inverted where asked
    assert result.image.size == base.size and result.image.mode == base.mode
    assert "masked to 2 regions, composited with the parent" in result.notes


async def test_fixed_size_model_pads_to_its_size_and_crops_back(fake, client):
    """gpt-image-1.5 takes three sizes: a 1200x630 parent is padded to 3:2, never stretched, and cropped back."""
    base = base_image(1200, 630)
    result = await make_editor(client, model="gpt-image-1.5").edit(EditRequest(kind="PROMPT", image=base, prompt="x"))
    sent = fake.last_request(EDITS)
    assert sent.field("size") == "1536x1024"
    padded = sent.images[0].image().convert("RGB")
    assert padded.size == (1200, 800)
    assert ImageChops.difference(padded.crop((0, 85, 1200, 715)), base).getbbox() is None
    assert padded.getpixel((5, 0)) == base.getpixel((5, 0))  # edges replicated, not a hard border
    # The fake inverts the whole (unmasked) image: the result lines up with the parent pixel for pixel.
    error = np.abs(np.asarray(result.image).astype(int) - (255 - np.asarray(base).astype(int))).mean()
    assert result.image.size == (1200, 630) and error < 3
    assert "padded 1200x630 to 1200x800 and cropped back" in result.notes
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    padded.save(ARTIFACTS / "fixed_size_sent_canvas.png")
    result.image.save(ARTIFACTS / "fixed_size_result.png")


async def test_cost_is_reported_usage_times_listed_price(fake, client):
    """Usage maps the reported token split, and cost is tokens × price from the catalogue."""
    result = await make_editor(client).edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="warmer", creativity=1)
    )
    reported = fake.last_request(EDITS).response_usage
    assert result.usage.model == MODEL
    assert result.usage.text_input_tokens == reported["input_tokens_details"]["text_tokens"]
    assert result.usage.image_input_tokens == reported["input_tokens_details"]["image_tokens"]
    assert result.usage.image_output_tokens == reported["output_tokens"]
    assert result.cost_usd == expected_cost(MODEL, reported) > 0


async def test_a_known_usage_block_costs_exactly(fake, client):
    """Exact arithmetic on a usage block with fixed numbers, at the default model's prices."""
    png = io.BytesIO()
    Image.new("RGB", (1008, 672), (1, 2, 3)).save(png, format="PNG")
    usage = {
        "input_tokens": 1_323,
        "input_tokens_details": {"text_tokens": 123, "image_tokens": 1_200},
        "output_tokens": 6_240,
        "total_tokens": 7_563,
    }
    fake.respond_next(
        EDITS, {"created": 1, "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}], "usage": usage}
    )
    result = await make_editor(client, stream_partials=False).edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="x")
    )
    assert result.cost_usd == round((123 * 5.00 + 1_200 * 8.00 + 6_240 * 30.00) / 1e6, 6) == 0.197415
    assert result.image.size == (900, 600) and result.image.getpixel((10, 10)) == (1, 2, 3)


async def test_missing_usage_is_an_unknown_cost_not_zero(fake, client):
    """A response without usage gives cost None and says so in the notes."""
    png = io.BytesIO()
    Image.new("RGB", (1008, 672), (1, 2, 3)).save(png, format="PNG")
    fake.respond_next(EDITS, {"created": 1, "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}]})
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert result.cost_usd is None and result.usage is None
    assert "cost is unknown" in result.notes


async def test_subject_sends_base_then_reference_with_the_concept(fake, client):
    """SUBJECT sends two image parts, base first and the reference second, and names subject, style and text."""
    base, reference = base_image(), base_image(400, 500)
    concept = Concept(main_subject="a glass bottle of cold brew", visual_style="sunlit flat lay", intended_text="COLD")
    result = await make_editor(client).edit(
        EditRequest(kind="SUBJECT", image=base, reference=reference, instructions="use the can", concept=concept)
    )
    sent = fake.last_request(EDITS)
    assert [part.field for part in sent.images] == ["image[]", "image[]"] and sent.mask is None
    assert sent.images[0].image().size == base.size
    sent_reference = sent.images[1].image().convert("RGB")
    assert ImageChops.difference(sent_reference, reference).getbbox() is None  # as uploaded, not padded
    prompt = sent.field("prompt")
    for text in ("use the can", "a glass bottle of cold brew", "sunlit flat lay", '"COLD"', "second image"):
        assert text in prompt
    assert result.image.size == base.size


async def test_subject_without_reference_is_a_bad_request(fake, client):
    """A SUBJECT edit with no reference fails before calling OpenAI."""
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="SUBJECT", image=base_image(), instructions="swap"))
    assert info.value.kind == "bad_request" and fake.requests == []


@pytest.mark.parametrize("kind", ["PROMPT", "TEXT"])
async def test_prompt_and_text_carry_the_concept(fake, client, kind):
    """PROMPT and TEXT prompts name the run's subject, style and intended text as well as the user's words."""
    concept = Concept(main_subject="a red kettle", visual_style="warm kitchen", intended_text="SUMMER SALE — 30% OFF")
    await make_editor(client).edit(
        EditRequest(kind=kind, image=base_image(), prompt="brighter", instructions="fix the headline", concept=concept)
    )
    prompt = fake.last_request(EDITS).field("prompt")
    for text in ("a red kettle", "warm kitchen", '"SUMMER SALE — 30% OFF"'):
        assert text in prompt
    assert ("brighter" if kind == "PROMPT" else "fix the headline") in prompt


@pytest.mark.parametrize(
    ("creativity", "fidelity", "quality", "phrase"),
    [
        (1, "high", "high", "Change only what is asked and preserve everything else exactly"),
        (2, "high", "medium", "Make the requested change while keeping"),
        (3, "low", "high", "Feel free to reinterpret"),
    ],
)
async def test_creativity_maps_to_fidelity_quality_and_wording(fake, client, creativity, fidelity, quality, phrase):
    """On gpt-image-1.5 (which takes input_fidelity), creativity 1..3 sets fidelity, quality and wording."""
    result = await make_editor(client, model="gpt-image-1.5").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="add a rainbow", creativity=creativity)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("input_fidelity") == fidelity == CREATIVITY[creativity].input_fidelity
    assert sent.field("quality") == quality == CREATIVITY[creativity].quality
    assert phrase in sent.field("prompt") and f"creativity {creativity}" in result.notes


async def test_mini_gets_only_the_fidelity_it_takes(fake, client):
    """gpt-image-1-mini takes input_fidelity low only: high is left out, low is sent."""
    await make_editor(client, model="gpt-image-1-mini").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="x", creativity=1)
    )
    assert fake.last_request(EDITS).field("input_fidelity") is None
    await make_editor(client, model="gpt-image-1-mini").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="x", creativity=3)
    )
    assert fake.last_request(EDITS).field("input_fidelity") == "low"


@pytest.mark.parametrize(("size", "mode"), [((600, 900), "L"), ((800, 800), "RGBA"), ((1200, 500), "P")])
async def test_result_matches_base_size_and_mode(fake, client, size, mode):
    """The result comes back at the base's size and mode."""
    base = base_image(*size, mode="RGB").convert(mode)
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="brighter"))
    assert result.image.size == size and result.image.mode == mode


async def test_streaming_hands_partials_to_on_partial(fake, client):
    """With on_partial, the edit streams: partials 0 and 1 at base size, then the final image with usage."""
    seen: list[tuple[int, tuple[int, int]]] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record each partial image handed over."""
        seen.append((index, image.size))

    result = await make_editor(client).edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="sunset", on_partial=on_partial)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("stream") == "true" and sent.field("partial_images") == "2"
    assert seen == [(0, (900, 600)), (1, (900, 600))]
    assert result.cost_usd == expected_cost(MODEL, sent.response_usage)
    assert "2 partial images streamed" in result.notes


async def test_outside_the_mask_is_the_parents_even_when_nothing_is_resampled(fake, client):
    """A 1024x1024 parent is sent and returned at its own size: only compositing keeps the outside bit-identical."""
    base = base_image(1024, 1024)
    rects = [Rect(0.3, 0.3, 0.3, 0.3)]
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="x", rects=rects))
    sent = fake.last_request(EDITS)
    assert sent.field("size") == "1024x1024" and sent.images[0].image().size == (1024, 1024)
    weight = feathered_mask(base.size, rects)
    got, want = np.asarray(result.image), np.asarray(base)
    assert np.array_equal(got[weight == 0], want[weight == 0])
