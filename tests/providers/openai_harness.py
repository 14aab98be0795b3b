"""Shared set-up for the OpenAI provider tests: one strict fake server per module, a real SDK client, editors."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from PIL import Image, ImageDraw

from churns_gql.config import Settings
from churns_gql.providers.openai import OpenAIImageEditor
from churns_gql.providers.openai_catalog import load_catalogue
from tests.fake_openai import FakeOpenAI

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
    total = (
        details["text_tokens"] * prices["text_input"]
        + details["image_tokens"] * prices["image_input"]
        + usage["output_tokens"] * prices["image_output"]
    )
    return round(total / 1e6, 6)
