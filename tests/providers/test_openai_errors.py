"""OpenAIImageEditor against the strict fake OpenAI server, through the real SDK client: retries, errors and settings."""

from __future__ import annotations

import socket

import httpx2
import openai
import pytest
from PIL import Image

from churns_gql.config import Settings
from churns_gql.providers.base import EditRequest, ProviderError
from churns_gql.providers.openai import OpenAIImageEditor, to_provider_error
from tests.fake_openai import EDITS
from tests.providers import openai_harness
from tests.providers.openai_harness import CONFIGS, KEY, MODEL, base_image, expected_cost, make_editor

# The harness's fixtures, found by pytest under these names.
fake, client, _fresh_requests = openai_harness.fake, openai_harness.client, openai_harness._fresh_requests


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
        await make_editor(client).edit(
            EditRequest(kind="PROMPT", image=base_image(), prompt="x", on_partial=on_partial)
        )
    assert info.value.spent_usd is None and "may have been billed" in info.value.message
    assert len(fake.requests_to(EDITS)) == 1


@pytest.mark.parametrize(
    ("status", "code", "setting"),
    [
        (401, "invalid_api_key", "OPENAI_API_KEY"),
        (403, None, "CHURNS_OPENAI_IMAGE_MODEL"),
        (404, "model_not_found", "CHURNS_OPENAI_IMAGE_MODEL"),
    ],
)
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
    error = to_provider_error(
        openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1/v1/images/edits")), MODEL
    )
    assert error.kind == "timeout" and error.spent_usd is None and "may have been billed" in error.message


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("gpt-image-1", "was shut down by OpenAI on 2026-10-23"),
        ("gpt-image-9", "is not an OpenAI image model"),
        ("gpt-5.4-mini", "is not an OpenAI image model"),
    ],
)
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
