"""The fake OpenAI server is strict like the real API: models, parameters, sizes, limits and stream events."""

from __future__ import annotations

import base64
import io

import numpy as np
import openai
import pytest
from PIL import Image

from tests.fake_openai import CHAT, EDITS, GENERATIONS, FakeOpenAI

KEY = "k"


@pytest.fixture(scope="module")
def fake():
    """One fake for the module."""
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake):
    """The real SDK on the fake, without retries so each test sees one answer."""
    sdk = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=30)
    yield sdk
    await sdk.close()


def png(width: int = 300, height: int = 200, mode: str = "RGB") -> bytes:
    """PNG bytes of a plain image."""
    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 20, 30) if mode == "RGB" else (10, 20, 30, 255)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3", "gpt-image-9"])
async def test_retired_and_unknown_image_models_are_404_model_not_found(client, model):
    """Shut-down and unknown models get 404 model_not_found on both image endpoints."""
    with pytest.raises(openai.NotFoundError) as info:
        await client.images.generate(model=model, prompt="x")
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        await client.images.edit(model=model, prompt="x", image=("i.png", png(), "image/png"))


async def test_retired_chat_models_are_404(client):
    """A chat model past its shutdown date is gone; a current one answers."""
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    chat = await client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    assert chat.usage.prompt_tokens > 0


async def test_unknown_and_unsupported_parameters_are_400(client):
    """A parameter the endpoint does not define, or one the model does not take, is refused."""
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x", extra_body={"sharpness": 3})
    assert info.value.code == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(
            model="gpt-image-2.5-sunburst", prompt="x", image=("i.png", png(), "image/png"), input_fidelity="high"
        )
    assert info.value.param == "input_fidelity"
    with pytest.raises(openai.BadRequestError):
        await client.images.edit(
            model="gpt-image-1-mini", prompt="x", image=("i.png", png(), "image/png"), input_fidelity="high"
        )
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x", quality="xhigh")
    assert info.value.param == "quality"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x", response_format="b64_json")
    assert info.value.param == "response_format"


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("gpt-image-2.5-sunburst", "1216x640", True),
        ("gpt-image-2.5-sunburst", "1200x630", False),
        ("gpt-image-2.5-sunburst", "2400x704", False),
        ("gpt-image-2.5-sunburst", "512x512", False),
        ("gpt-image-2.5-sunburst", "3840x2176", False),
        ("gpt-image-2", "2560x1440", True),
        ("gpt-image-1.5", "1536x1024", True),
        ("gpt-image-1.5", "1216x640", False),
        ("gpt-image-2.6-flare", "1008x672", False),
    ],
)
async def test_size_rules_per_model(client, model, size, ok):
    """Any-size models take multiples of 16 within aspect, pixel and edge limits; fixed-size models their list."""
    if ok:
        result = await client.images.generate(model=model, prompt="x", size=size, quality="low")
        image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
        assert f"{image.width}x{image.height}" == size
    else:
        with pytest.raises(openai.BadRequestError) as info:
            await client.images.generate(model=model, prompt="x", size=size)
        assert info.value.param == "size"


async def test_prompts_over_32000_characters_are_400(client):
    """The GPT image models' prompt limit."""
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x" * 32_001)
    assert info.value.code == "string_above_max_length"
    await client.images.generate(model="gpt-image-2", prompt="x" * 32_000, quality="low")


async def test_streams_send_partials_then_completed_with_usage(client, fake):
    """Partial-image events in order, then one completed event carrying the usage the fake recorded."""
    stream = await client.images.edit(
        model="gpt-image-2.5-sunburst",
        prompt="x",
        image=("i.png", png(), "image/png"),
        stream=True,
        partial_images=3,
        size="1008x672",
    )
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_edit.partial_image"] * 3 + ["image_edit.completed"]
    assert [e.partial_image_index for e in events[:3]] == [0, 1, 2]
    usage = events[-1].usage
    assert usage.input_tokens_details.image_tokens > 0 and usage.output_tokens > 300
    assert usage.output_tokens == fake.last_request(EDITS).response_usage["output_tokens"]
    assert events[-1].size == "1008x672"
    # The SDK builds events without validating them: validate each against its model, so no field is missing.
    from openai.types import ImageEditCompletedEvent, ImageEditPartialImageEvent

    for event in events[:3]:
        ImageEditPartialImageEvent.model_validate(event.model_dump())
    ImageEditCompletedEvent.model_validate(events[-1].model_dump())


async def test_partial_images_without_stream_are_400(client):
    """partial_images only makes sense when streaming."""
    with pytest.raises(openai.BadRequestError):
        await client.images.generate(model="gpt-image-2", prompt="x", partial_images=2)


async def test_failure_injection_answers_like_the_api(client, fake):
    """fail_next gives an OpenAI error body with headers; delay_next answers late but normally."""
    fake.fail_next(GENERATIONS, status=429, headers={"retry-after": "3"})
    with pytest.raises(openai.RateLimitError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.response.headers["retry-after"] == "3"
    fake.fail_next(CHAT, status=500)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    fake.delay_next(GENERATIONS, 0.3)
    result = await client.images.generate(model="gpt-image-2", prompt="x", quality="low")
    assert result.usage.output_tokens > 0


async def test_masks_must_match_the_image_and_parts_need_an_image_type(client):
    """A mask of another size, or an image part sent as octet-stream, is refused."""
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(
            model="gpt-image-2",
            prompt="x",
            image=("i.png", png(), "image/png"),
            mask=("m.png", png(100, 100, "RGBA"), "image/png"),
        )
    assert info.value.param == "mask"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(model="gpt-image-2", prompt="x", image=("i.png", png(), "application/octet-stream"))
    assert info.value.code == "unsupported_file_mimetype"


async def test_a_masked_edit_changes_pixels_outside_the_mask_too(client):
    """The API only guides the model with a mask: outside it the image comes back re-rendered, not the input."""
    source = Image.effect_noise((1024, 1024), 40).convert("RGB")
    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (400, 400, 600, 600))
    files = []
    for image in (source, mask):
        out = io.BytesIO()
        image.save(out, format="PNG")
        files.append(out.getvalue())
    result = await client.images.edit(
        model="gpt-image-2",
        prompt="x",
        size="1024x1024",  # the input's own size: no resampling hides what the model did
        image=("i.png", files[0], "image/png"),
        mask=("m.png", files[1], "image/png"),
    )
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))).convert("RGB")).astype(int)
    want = np.asarray(source).astype(int)
    outside = np.ones((1024, 1024), bool)
    outside[400:600, 400:600] = False
    drift = np.abs(got[outside] - want[outside])
    assert drift.max() > 0 and drift.mean() < 3  # changed, though slightly: still recognisably the input
    assert np.abs(got[450:550, 450:550] - (255 - want[450:550, 450:550])).mean() < 3  # edited inside


async def test_values_and_combinations_the_api_refuses_are_400(client):
    """Legacy `style`, moderation values other than low/auto, a transparent JPEG, and markup where it is not taken."""
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x", style="vivid")
    assert info.value.param == "style"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2", prompt="x", extra_body={"moderation": "strict"})
    assert info.value.param == "moderation"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-2.5-sunburst", prompt="x", background="clear")
    assert info.value.param == "background"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(
            model="gpt-image-2.5-sunburst", prompt="x", background="transparent", output_format="jpeg"
        )
    assert info.value.param == "background"
    markup = ("k.png", png(mode="RGBA"), "image/png")
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(model="gpt-image-2", prompt="x", image=("i.png", png(), "image/png"), markup=markup)
    assert info.value.param == "markup"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(
            model="gpt-image-2.5-sunburst",
            prompt="x",
            image=("i.png", png(), "image/png"),
            markup=markup,
            mask=("m.png", png(mode="RGBA"), "image/png"),
        )
    assert info.value.param == "markup"
    ok = await client.images.generate(model="gpt-image-2", prompt="x", quality="low", extra_body={"moderation": "low"})
    assert ok.data and ok.data[0].b64_json
