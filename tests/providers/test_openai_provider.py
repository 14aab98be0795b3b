"""OpenAIImageEditor against the strict fake OpenAI server, through the real SDK client."""

from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

import httpx2
import numpy as np
import openai
import pytest
from PIL import Image, ImageChops, ImageDraw

from churns_gql.concepts import Concept
from churns_gql.config import Settings
from churns_gql.imaging import feathered_mask
from churns_gql.providers.base import EditRequest, ProviderError, Rect
from churns_gql.providers.openai import CREATIVITY, OpenAIImageEditor, to_provider_error
from churns_gql.providers.openai_catalog import load_catalogue
from tests.fake_openai import EDITS, FakeOpenAI

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ARTIFACTS = CONFIGS.parent / "test-artifacts" / "openai"
CATALOGUE = load_catalogue(CONFIGS)
MODEL = Settings.defaults().openai_image_model
KEY = "test-key"


@pytest.fixture(scope="module")
def fake():
    """One fake OpenAI server for the module; each test sees only its own requests."""
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_requests(fake):
    """Forget requests from earlier tests."""
    fake.requests.clear()


@pytest.fixture
async def client(fake):
    """A real AsyncOpenAI client pointed at the fake."""
    sdk = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, timeout=30)
    yield sdk
    await sdk.close()


def make_editor(client, model=MODEL, stream_partials=True, sleeps=None) -> OpenAIImageEditor:
    """An editor on `client` with the shipped catalogue; retry delays are recorded in `sleeps`, not slept."""
    async def sleep(seconds: float) -> None:
        """Record a retry delay."""
        if sleeps is not None:
            sleeps.append(seconds)

    return OpenAIImageEditor(client, model, CATALOGUE, stream_partials=stream_partials, sleep=sleep)


def base_image(width=900, height=600, mode="RGB") -> Image.Image:
    """A non-uniform test image, so a wrong resize or crop would show."""
    image = Image.new("RGB", (width, height), (40, 120, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 3, height), fill=(230, 200, 40))
    draw.ellipse((width // 2, height // 4, width - 20, height - 20), fill=(20, 160, 60))
    return image.convert(mode)


def expected_cost(model: str, usage: dict) -> float:
    """The cost of a reported usage block, from the catalogue's prices read as plain numbers."""
    prices = CATALOGUE.pricing.for_model(model)
    details = usage["input_tokens_details"]
    total = (details["text_tokens"] * prices["text_input"] + details["image_tokens"] * prices["image_input"]
             + usage["output_tokens"] * prices["image_output"])
    return round(total / 1e6, 6)


async def test_masked_edit_on_the_default_model_keeps_every_pixel_outside_the_band(fake, client):
    """Default model: the parent's own aspect is requested, the mask matches the padded image, outside is the parent."""
    base = base_image()
    rects = [Rect(0.1, 0.1, 0.2, 0.3), Rect(0.6, 0.5, 0.3, 0.4)]
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="make the sky pink", rects=rects))
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
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="warmer", creativity=1))
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
    usage = {"input_tokens": 1_323, "input_tokens_details": {"text_tokens": 123, "image_tokens": 1_200},
             "output_tokens": 6_240, "total_tokens": 7_563}
    fake.respond_next(EDITS, {"created": 1, "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}], "usage": usage})
    result = await make_editor(client, stream_partials=False).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
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
        EditRequest(kind="SUBJECT", image=base, reference=reference, instructions="use the can", concept=concept))
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
    await make_editor(client).edit(EditRequest(kind=kind, image=base_image(), prompt="brighter",
                                               instructions="fix the headline", concept=concept))
    prompt = fake.last_request(EDITS).field("prompt")
    for text in ("a red kettle", "warm kitchen", '"SUMMER SALE — 30% OFF"'):
        assert text in prompt
    assert ("brighter" if kind == "PROMPT" else "fix the headline") in prompt


@pytest.mark.parametrize(("creativity", "fidelity", "quality", "phrase"), [
    (1, "high", "high", "Change only what is asked and preserve everything else exactly"),
    (2, "high", "medium", "Make the requested change while keeping"),
    (3, "low", "high", "Feel free to reinterpret"),
])
async def test_creativity_maps_to_fidelity_quality_and_wording(fake, client, creativity, fidelity, quality, phrase):
    """On gpt-image-1.5 (which takes input_fidelity), creativity 1..3 sets fidelity, quality and wording."""
    result = await make_editor(client, model="gpt-image-1.5").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="add a rainbow", creativity=creativity))
    sent = fake.last_request(EDITS)
    assert sent.field("input_fidelity") == fidelity == CREATIVITY[creativity].input_fidelity
    assert sent.field("quality") == quality == CREATIVITY[creativity].quality
    assert phrase in sent.field("prompt") and f"creativity {creativity}" in result.notes


async def test_mini_gets_only_the_fidelity_it_takes(fake, client):
    """gpt-image-1-mini takes input_fidelity low only: high is left out, low is sent."""
    await make_editor(client, model="gpt-image-1-mini").edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x", creativity=1))
    assert fake.last_request(EDITS).field("input_fidelity") is None
    await make_editor(client, model="gpt-image-1-mini").edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x", creativity=3))
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

    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="sunset", on_partial=on_partial))
    sent = fake.last_request(EDITS)
    assert sent.field("stream") == "true" and sent.field("partial_images") == "2"
    assert seen == [(0, (900, 600)), (1, (900, 600))]
    assert result.cost_usd == expected_cost(MODEL, sent.response_usage)
    assert "2 partial images streamed" in result.notes


async def test_sdk_retries_are_off_and_ours_retry_a_500_once(fake, client):
    """A 500 then success: two requests, one backoff of 1 s, the cost of the successful call only."""
    sleeps: list[float] = []
    fake.fail_next(EDITS, status=500)
    result = await make_editor(client, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    calls = fake.requests_to(EDITS)
    assert len(calls) == 2 and sleeps == [1.0]
    assert result.cost_usd == expected_cost(MODEL, calls[1].response_usage)


async def test_persistent_5xx_gives_up_after_bounded_backoff(fake, client):
    """Three 503s: three attempts, backoff 1 then 2 s, then unavailable with nothing spent."""
    sleeps: list[float] = []
    for _ in range(3):
        fake.fail_next(EDITS, status=503)
    with pytest.raises(ProviderError) as info:
        await make_editor(client, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "unavailable" and "503" in info.value.message and info.value.spent_usd == 0.0
    assert sleeps == [1.0, 2.0] and len(fake.requests_to(EDITS)) == 3


async def test_a_429_honours_retry_after_and_quota_is_not_retried(fake, client):
    """429 with Retry-After waits that long; insufficient_quota fails at once pointing at billing."""
    sleeps: list[float] = []
    fake.fail_next(EDITS, status=429, headers={"retry-after-ms": "2500"})
    await make_editor(client, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert sleeps == [2.5]
    fake.fail_next(EDITS, status=429, code="insufficient_quota", message="You exceeded your current quota.")
    with pytest.raises(ProviderError) as info:
        await make_editor(client, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "rate_limit" and "billing" in info.value.message and sleeps == [2.5]


async def test_a_timeout_is_never_retried_and_may_have_been_billed(fake):
    """The fake answers after 2 s; the client gives up at 0.5 s: one request, spend unknown."""
    sleeps: list[float] = []
    fake.delay_next(EDITS, 2.0)
    slow = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=2, timeout=0.5)
    try:
        with pytest.raises(ProviderError) as info:
            await make_editor(slow, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await slow.close()
    assert info.value.kind == "timeout" and "may have been billed" in info.value.message
    assert info.value.spent_usd is None and sleeps == [] and len(fake.requests_to(EDITS)) == 1


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
async def test_content_policy_maps_to_content_policy(fake, client, code):
    """400 with a moderation code becomes content_policy, with the code in the message, not retried."""
    fake.fail_next(EDITS, status=400, code=code, message="Your request was rejected as a result of our safety system.")
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "content_policy" and info.value.code == "moderation_blocked"
    assert "safety system" in info.value.message and "moderation_blocked" in info.value.message


async def test_an_error_inside_a_stream_may_have_been_billed(fake, client):
    """A server error event after a partial: the request was under way, so the spend is unknown."""
    fake.stream_error_next(EDITS, code="server_error", message="Something broke.", after_partials=1)

    async def on_partial(image: Image.Image, index: int) -> None:
        """Accept partials."""

    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x", on_partial=on_partial))
    assert info.value.spent_usd is None and "may have been billed" in info.value.message
    assert len(fake.requests_to(EDITS)) == 1


@pytest.mark.parametrize(("status", "code", "setting"), [(401, "invalid_api_key", "OPENAI_API_KEY"),
                                                         (403, None, "CHURNS_OPENAI_IMAGE_MODEL"),
                                                         (404, "model_not_found", "CHURNS_OPENAI_IMAGE_MODEL")])
async def test_account_errors_name_the_setting(fake, client, status, code, setting):
    """401, 403 and 404 say which setting to check."""
    fake.fail_next(EDITS, status=status, code=code)
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert setting in info.value.message and info.value.kind in ("auth", "bad_request")


async def test_unreachable_server_is_retried_then_unavailable():
    """A refused connection never reached OpenAI: retried, then unavailable with nothing spent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    closed = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=5)
    try:
        with pytest.raises(ProviderError) as info:
            await make_editor(closed, sleeps=sleeps).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await closed.close()
    assert info.value.kind == "unavailable" and info.value.spent_usd == 0.0 and sleeps == [1.0, 2.0]


def test_timeout_error_maps_to_timeout():
    """APITimeoutError becomes kind timeout with an unknown spend."""
    error = to_provider_error(openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1/v1/images/edits")), MODEL)
    assert error.kind == "timeout" and error.spent_usd is None and "may have been billed" in error.message


@pytest.mark.parametrize(("model", "message"), [("gpt-image-1", "was shut down by OpenAI on 2026-10-23"),
                                                ("gpt-image-9", "is not an OpenAI image model"),
                                                ("gpt-5.4-mini", "is not an OpenAI image model")])
async def test_unknown_or_retired_models_are_refused_naming_the_setting(client, model, message):
    """The editor refuses a model the catalogue does not list as current, before any call."""
    with pytest.raises(ProviderError) as info:
        make_editor(client, model=model)
    assert f"CHURNS_OPENAI_IMAGE_MODEL={model!r}" in info.value.message and message in info.value.message


async def test_from_settings_uses_key_base_url_and_model(fake):
    """from_settings builds a working client from Settings, with the SDK's retries off."""
    settings = Settings.defaults(openai_api_key=KEY, openai_base_url=fake.base_url, configs_dir=CONFIGS)
    editor = OpenAIImageEditor.from_settings(settings)
    try:
        assert editor.model == MODEL and editor.client.max_retries == 0
        result = await editor.edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await editor.client.close()
    sent = fake.last_request(EDITS)
    assert sent.field("model") == MODEL and sent.headers["authorization"] == f"Bearer {KEY}"
    assert result.cost_usd == expected_cost(MODEL, sent.response_usage)


def test_from_settings_without_key_is_an_auth_error():
    """No OPENAI_API_KEY is reported as an auth problem, before any call."""
    with pytest.raises(ProviderError) as info:
        OpenAIImageEditor.from_settings(Settings.defaults(openai_api_key=None, configs_dir=CONFIGS))
    assert info.value.kind == "auth" and "OPENAI_API_KEY" in info.value.message
