"""OpenAIImageEditor against the fake OpenAI server, through the real SDK client."""

from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

import httpx2
import openai
import pytest
import yaml
from PIL import Image, ImageChops, ImageDraw

from tests.fake_openai import EDITS, FakeOpenAI

from churns_gql.concepts import Concept
from churns_gql.config import Settings
from churns_gql.providers.base import EditRequest, ProviderError, Rect
from churns_gql.providers.openai import (
    CREATIVITY,
    OpenAIImageEditor,
    build_edit_mask,
    choose_size,
    to_provider_error,
)
from churns_gql.providers.pricing import MissingTokenPrice, UnknownModelPrice, load_pricing

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRICES = yaml.safe_load((CONFIGS / "pricing.yml").read_text())["models"]
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
    """A real AsyncOpenAI client pointed at the fake, without retries so failures are immediate."""
    sdk = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=30)
    yield sdk
    await sdk.close()


def make_editor(client, model="gpt-image-1", stream_partials=True) -> OpenAIImageEditor:
    """An editor on `client` priced from the shipped configs/pricing.yml."""
    return OpenAIImageEditor(client, model, load_pricing(CONFIGS / "pricing.yml"), stream_partials=stream_partials)


def base_image(width=900, height=600, mode="RGB") -> Image.Image:
    """A non-uniform test image, so a wrong resize or crop would show."""
    image = Image.new("RGB", (width, height), (40, 120, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 3, height), fill=(230, 200, 40))
    draw.ellipse((width // 2, height // 4, width - 20, height - 20), fill=(20, 160, 60))
    return image.convert(mode)


def expected_cost(model: str, usage: dict) -> float:
    """The cost of a reported usage block, from the price file read independently of Pricing."""
    prices = PRICES[model]
    details = usage["input_tokens_details"]
    total = (
        details["text_tokens"] * prices["text_input"]
        + details["image_tokens"] * prices["image_input"]
        + usage["output_tokens"] * prices["image_output"]
    )
    return round(total / 1e6, 6)


async def test_prompt_with_rects_sends_png_and_exact_mask(fake, client):
    """PROMPT with two rects: model field, base-size PNG, RGBA mask transparent exactly inside the rects."""
    base = base_image()
    rects = [Rect(0.1, 0.1, 0.2, 0.3), Rect(0.6, 0.5, 0.3, 0.4)]
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="make the sky pink", rects=rects))

    sent = fake.last_request(EDITS)
    assert sent.field("model") == "gpt-image-1"
    assert sent.field("size") == "1536x1024"
    assert sent.field("n") == "1"
    assert "make the sky pink" in sent.field("prompt")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"].startswith("multipart/form-data")

    [image_part] = sent.images
    assert image_part.content_type == "image/png"
    sent_image = image_part.image()
    assert sent_image.format == "PNG" and sent_image.size == (900, 600)
    assert ImageChops.difference(sent_image.convert("RGB"), base).getbbox() is None

    mask_part = sent.mask
    assert mask_part is not None and mask_part.content_type == "image/png"
    mask = mask_part.image()
    assert mask.format == "PNG" and mask.mode == "RGBA" and mask.size == (900, 600)
    alpha = mask.getchannel("A")
    boxes = [r.to_pixels(900, 600) for r in rects]
    assert boxes == [(90, 60, 270, 240), (540, 300, 810, 540)]
    assert alpha.getextrema() == (0, 255)
    transparent = alpha.histogram()[0]
    assert transparent == sum((right - left) * (bottom - top) for left, top, right, bottom in boxes)
    assert alpha.histogram()[255] == 900 * 600 - transparent
    for left, top, right, bottom in boxes:
        assert alpha.crop((left, top, right, bottom)).getextrema() == (0, 0)
        assert alpha.getpixel((left, top)) == 0 and alpha.getpixel((right - 1, bottom - 1)) == 0
        assert alpha.getpixel((left - 1, top)) == 255 and alpha.getpixel((right, bottom - 1)) == 255
        assert alpha.getpixel((left, top - 1)) == 255 and alpha.getpixel((left, bottom)) == 255
    assert alpha.getpixel((0, 0)) == 255 and alpha.getpixel((899, 599)) == 255

    assert result.image.size == base.size and result.image.mode == base.mode
    # The fake inverts only the masked area, so inside a rect changes and far outside stays.
    inside = result.image.getpixel((180, 150))
    assert all(abs(a - (255 - b)) <= 12 for a, b in zip(inside, base.getpixel((180, 150))))
    assert all(abs(a - b) <= 12 for a, b in zip(result.image.getpixel((450, 80)), base.getpixel((450, 80))))
    assert "masked to 2 regions" in result.notes


async def test_cost_is_reported_usage_times_listed_price(fake, client):
    """Usage maps the reported token split, and cost is tokens × price from configs/pricing.yml."""
    result = await make_editor(client, model="gpt-image-1.5").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="warmer light", creativity=1)
    )
    reported = fake.last_request(EDITS).response_usage
    assert reported is not None
    assert result.usage is not None
    assert result.usage.model == "gpt-image-1.5"
    assert result.usage.text_input_tokens == reported["input_tokens_details"]["text_tokens"]
    assert result.usage.image_input_tokens == reported["input_tokens_details"]["image_tokens"]
    assert result.usage.image_output_tokens == reported["output_tokens"]
    assert result.usage.text_output_tokens == 0
    assert result.cost_usd == expected_cost("gpt-image-1.5", reported)
    assert result.cost_usd > 0


async def test_cost_of_a_known_usage_block(fake, client):
    """Exact arithmetic on a usage block with fixed numbers."""
    png = io.BytesIO()
    Image.new("RGB", (1536, 1024), (1, 2, 3)).save(png, format="PNG")
    usage = {
        "input_tokens": 1_323,
        "input_tokens_details": {"text_tokens": 123, "image_tokens": 1_200},
        "output_tokens": 6_240,
        "total_tokens": 7_563,
    }
    fake.respond_next(EDITS, {"created": 1, "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}], "usage": usage})
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert result.cost_usd == round((123 * 5.00 + 1_200 * 10.00 + 6_240 * 40.00) / 1e6, 6) == 0.262215
    assert result.image.size == (900, 600) and result.image.getpixel((10, 10)) == (1, 2, 3)


async def test_subject_sends_base_then_reference(fake, client):
    """SUBJECT sends two image parts, base first and the reference second, and names subject and style."""
    base = base_image()
    reference = base_image(400, 500).rotate(90, expand=True)
    concept = Concept(main_subject="a glass bottle of cold brew", visual_style="sunlit flat lay, pastel tones")
    result = await make_editor(client).edit(
        EditRequest(kind="SUBJECT", image=base, reference=reference, instructions="use the can instead", concept=concept)
    )
    sent = fake.last_request(EDITS)
    assert [part.field for part in sent.images] == ["image[]", "image[]"]
    first, second = (part.image() for part in sent.images)
    assert first.size == base.size
    assert second.size == reference.size
    assert ImageChops.difference(second.convert("RGB"), reference.convert("RGB")).getbbox() is None
    assert sent.mask is None
    prompt = sent.field("prompt")
    assert "use the can instead" in prompt
    assert "a glass bottle of cold brew" in prompt
    assert "sunlit flat lay, pastel tones" in prompt
    assert "second image" in prompt
    assert result.image.size == base.size


async def test_subject_without_reference_is_a_bad_request(fake, client):
    """A SUBJECT edit with no reference fails before calling OpenAI."""
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="SUBJECT", image=base_image(), instructions="swap"))
    assert info.value.kind == "bad_request"
    assert fake.requests == []


async def test_text_prompt_includes_intended_text(fake, client):
    """TEXT asks for the concept's intended text and for everything else to stay identical."""
    concept = Concept(intended_text="SUMMER SALE — 30% OFF")
    await make_editor(client).edit(
        EditRequest(kind="TEXT", image=base_image(), instructions="fix the misspelt headline", concept=concept)
    )
    sent = fake.last_request(EDITS)
    prompt = sent.field("prompt")
    assert '"SUMMER SALE — 30% OFF"' in prompt
    assert "fix the misspelt headline" in prompt
    assert "Keep everything else in the image identical" in prompt
    assert sent.mask is None and len(sent.images) == 1


@pytest.mark.parametrize(
    ("creativity", "fidelity", "quality", "phrase"),
    [
        (1, "high", "high", "Change only what is asked and preserve everything else exactly"),
        (2, "high", "medium", "Make the requested change while keeping"),
        (3, "low", "high", "Feel free to reinterpret"),
    ],
)
async def test_creativity_maps_to_fidelity_quality_and_wording(fake, client, creativity, fidelity, quality, phrase):
    """Creativity 1..3 sets input_fidelity, quality and the prompt's wording."""
    result = await make_editor(client, model="gpt-image-1.5").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="add a rainbow", creativity=creativity)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("input_fidelity") == fidelity == CREATIVITY[creativity].input_fidelity
    assert sent.field("quality") == quality == CREATIVITY[creativity].quality
    assert phrase in sent.field("prompt")
    assert f"creativity {creativity}" in result.notes


async def test_input_fidelity_left_out_for_models_without_it(fake, client):
    """gpt-image-1-mini only supports low fidelity, so the parameter is not sent at all."""
    await make_editor(client, model="gpt-image-1-mini").edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="add a rainbow", creativity=1)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("input_fidelity") is None
    assert sent.field("quality") == "high"


@pytest.mark.parametrize(
    ("size", "mode", "requested"),
    [((600, 900), "L", "1024x1536"), ((800, 800), "RGBA", "1024x1024"), ((1200, 500), "P", "1536x1024")],
)
async def test_result_matches_base_size_and_mode(fake, client, size, mode, requested):
    """The nearest standard size is requested and the result comes back at the base's size and mode."""
    base = base_image(*size, mode="RGB").convert(mode)
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="brighter"))
    assert fake.last_request(EDITS).field("size") == requested
    assert result.image.size == size
    assert result.image.mode == mode


async def test_streaming_hands_partials_to_on_partial(fake, client):
    """With on_partial, the edit streams: partials 0 and 1 at base size, then the final image."""
    seen: list[tuple[int, tuple[int, int]]] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record each partial image handed over."""
        seen.append((index, image.size))

    base = base_image()
    result = await make_editor(client).edit(EditRequest(kind="PROMPT", image=base, prompt="sunset", on_partial=on_partial))
    sent = fake.last_request(EDITS)
    assert sent.field("stream") == "true"
    assert sent.field("partial_images") == "2"
    assert seen == [(0, (900, 600)), (1, (900, 600))]
    assert result.image.size == base.size
    assert result.cost_usd == expected_cost("gpt-image-1", sent.response_usage)
    assert "2 partial images streamed" in result.notes


async def test_streaming_can_be_turned_off(fake, client):
    """stream_partials=False makes a plain call even when on_partial is set."""
    calls: list[int] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record each partial image handed over."""
        calls.append(index)

    result = await make_editor(client, stream_partials=False).edit(
        EditRequest(kind="PROMPT", image=base_image(), prompt="sunset", on_partial=on_partial)
    )
    sent = fake.last_request(EDITS)
    assert sent.field("stream") is None and sent.field("partial_images") is None
    assert calls == []
    assert result.image.size == (900, 600)


async def test_rate_limit_maps_to_rate_limit(fake, client):
    """429 becomes kind rate_limit with advice to wait."""
    fake.fail_next(EDITS, status=429)
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "rate_limit"
    assert info.value.message == "OpenAI rate limit reached; try again in a minute"
    assert len(fake.requests_to(EDITS)) == 1


async def test_quota_exhaustion_says_so(fake, client):
    """429 insufficient_quota is not cured by waiting, so the message points at billing."""
    fake.fail_next(EDITS, status=429, code="insufficient_quota", message="You exceeded your current quota.")
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "rate_limit"
    assert "quota" in info.value.message and "billing" in info.value.message


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
async def test_content_policy_maps_to_content_policy(fake, client, code):
    """400 with a moderation code becomes kind content_policy."""
    fake.fail_next(
        EDITS,
        status=400,
        code=code,
        message="Your request was rejected as a result of our safety system.",
    )
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "content_policy"
    assert "safety system" in info.value.message


async def test_content_policy_inside_a_stream(fake, client):
    """A moderation error event in the middle of a stream also becomes content_policy."""
    fake.stream_error_next(EDITS, code="moderation_blocked", message="Rejected by the safety system.", after_partials=1)
    seen: list[int] = []

    async def on_partial(image: Image.Image, index: int) -> None:
        """Record each partial image handed over."""
        seen.append(index)

    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x", on_partial=on_partial))
    assert info.value.kind == "content_policy"
    assert seen == [0]


async def test_other_bad_request_carries_the_api_message(fake, client):
    """Any other 400 becomes bad_request and passes on the API's (trimmed) message."""
    fake.fail_next(EDITS, status=400, code="invalid_value", message="Invalid value: 'ultra'.  " + "x" * 1000)
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "bad_request"
    assert "Invalid value: 'ultra'." in info.value.message
    assert len(info.value.message) < 400
    assert "Traceback" not in info.value.message


async def test_wrong_key_maps_to_auth(fake):
    """401 from a wrong key becomes kind auth pointing at OPENAI_API_KEY."""
    wrong = openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong-key", max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            await make_editor(wrong).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await wrong.close()
    assert info.value.kind == "auth"
    assert info.value.message == "OpenAI rejected the API key; check OPENAI_API_KEY"
    assert fake.last_request(EDITS).headers["authorization"] == "Bearer wrong-key"


async def test_permission_denied_maps_to_auth_with_reason(fake, client):
    """403 becomes auth and keeps the API's reason, e.g. an unverified organization."""
    fake.fail_next(EDITS, status=403, message="Your organization must be verified to use the model `gpt-image-1`.")
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "auth"
    assert "must be verified" in info.value.message


async def test_server_error_maps_to_unavailable(fake, client):
    """5xx becomes kind unavailable."""
    fake.fail_next(EDITS, status=503)
    with pytest.raises(ProviderError) as info:
        await make_editor(client).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    assert info.value.kind == "unavailable"
    assert "503" in info.value.message


async def test_unreachable_server_maps_to_unavailable():
    """A refused connection becomes kind unavailable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=5)
    try:
        with pytest.raises(ProviderError) as info:
            await make_editor(closed).edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await closed.close()
    assert info.value.kind == "unavailable"


def test_timeout_maps_to_timeout():
    """APITimeoutError becomes kind timeout."""
    error = to_provider_error(openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1/v1/images/edits")), "gpt-image-1")
    assert error.kind == "timeout"
    assert "too long" in error.message


async def test_fake_rejects_a_mask_of_another_size(fake, client):
    """The fake checks like the real API: a mask must match the first image's size."""
    png = io.BytesIO()
    base_image().save(png, format="PNG")
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(
            model="gpt-image-1",
            prompt="x",
            image=("image.png", png.getvalue(), "image/png"),
            mask=("mask.png", build_edit_mask((100, 100), []), "image/png"),
        )
    assert info.value.param == "mask"


async def test_fake_rejects_an_untyped_image(fake, client):
    """The fake, like the real API, refuses image parts sent as application/octet-stream."""
    png = io.BytesIO()
    base_image().save(png, format="PNG")
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(model="gpt-image-1", prompt="x", image=("image.png", png.getvalue(), "application/octet-stream"))
    assert info.value.code == "unsupported_file_mimetype"


def test_build_edit_mask_marks_rects_transparent():
    """build_edit_mask gives an RGBA PNG of the exact size with alpha 0 only inside the rects."""
    mask = Image.open(io.BytesIO(build_edit_mask((321, 123), [Rect(0.0, 0.0, 0.5, 1.0)])))
    assert mask.format == "PNG" and mask.mode == "RGBA" and mask.size == (321, 123)
    alpha = mask.getchannel("A")
    left, top, right, bottom = Rect(0.0, 0.0, 0.5, 1.0).to_pixels(321, 123)
    assert alpha.histogram()[0] == (right - left) * (bottom - top)
    assert alpha.getpixel((right, 0)) == 255
    assert Image.open(io.BytesIO(build_edit_mask((10, 10), []))).getchannel("A").getextrema() == (255, 255)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((900, 600), (1536, 1024)), ((600, 900), (1024, 1536)), ((1000, 1000), (1024, 1024)), ((1100, 1000), (1024, 1024)), ((4000, 1000), (1536, 1024))],
)
def test_choose_size_picks_nearest_aspect(size, expected):
    """The requested size is the standard size nearest the base image's aspect ratio."""
    assert choose_size(*size) == expected


async def test_from_settings_uses_key_base_url_and_model(fake):
    """from_settings builds a working client from Settings and prices the configured model."""
    settings = Settings(openai_api_key=KEY, openai_base_url=fake.base_url, openai_image_model="gpt-image-1.5", configs_dir=CONFIGS)
    editor = OpenAIImageEditor.from_settings(settings, max_retries=0)
    try:
        assert editor.name == "openai" and editor.model == "gpt-image-1.5"
        result = await editor.edit(EditRequest(kind="PROMPT", image=base_image(), prompt="x"))
    finally:
        await editor.client.close()
    sent = fake.last_request(EDITS)
    assert sent.field("model") == "gpt-image-1.5"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert result.cost_usd == expected_cost("gpt-image-1.5", sent.response_usage)


def test_from_settings_without_key_is_an_auth_error():
    """No OPENAI_API_KEY is reported as an auth problem, before any call."""
    with pytest.raises(ProviderError) as info:
        OpenAIImageEditor.from_settings(Settings(openai_api_key=None, configs_dir=CONFIGS))
    assert info.value.kind == "auth" and "OPENAI_API_KEY" in info.value.message


async def test_unpriced_model_is_refused_at_construction(client):
    """An editor for a model missing from pricing.yml fails at once, not after a paid call."""
    with pytest.raises(UnknownModelPrice, match="gpt-image-unpriced"):
        make_editor(client, model="gpt-image-unpriced")


async def test_model_without_image_prices_is_refused(client):
    """A chat model configured as the image model cannot be priced, so it is refused up front."""
    with pytest.raises(MissingTokenPrice, match="image_input"):
        make_editor(client, model="gpt-4.1-mini")


async def test_fake_serves_generations_and_chat(fake, client):
    """The fake's generations and chat endpoints answer the SDK and record what they got."""
    generated = await client.images.generate(model="gpt-image-1", prompt="a red bicycle", size="1024x1536", quality="low")
    image = Image.open(io.BytesIO(base64.b64decode(generated.data[0].b64_json)))
    assert image.size == (1024, 1536)
    assert generated.usage is not None and generated.usage.output_tokens == 408
    assert fake.last_request("/v1/images/generations").json["prompt"] == "a red bicycle"

    fake.chat_content = '{"ok": true}'
    chat = await client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == '{"ok": true}'
    assert chat.usage is not None and chat.usage.prompt_tokens > 0
    assert fake.last_request("/v1/chat/completions").json["messages"][0]["content"] == "hi"
    fake.chat_content = "OK"
