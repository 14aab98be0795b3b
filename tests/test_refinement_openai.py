"""The refinement job with the OpenAI provider, against the fake OpenAI server on loopback."""

from __future__ import annotations

import io
from dataclasses import replace

import openai
import pytest
from PIL import Image as PILImage

from churns_gql.providers.openai import OpenAIImageEditor
from churns_gql.providers.pricing import load_pricing
from churns_gql.providers.base import Usage
from tests.conftest import ROOT, import_images, png_bytes, refine, run_worker
from tests.fake_openai import EDITS, FakeOpenAI

MODEL = "gpt-image-1.5"


@pytest.fixture
def fake():
    with FakeOpenAI(api_key="sk-test") as server:
        yield server


@pytest.fixture
def openai_worker(worker_services, fake):
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    editor = OpenAIImageEditor(client, MODEL, load_pricing(ROOT / "configs" / "pricing.yml"))
    return replace(worker_services, editor=editor)


async def _parent(client) -> str:
    metadata = {"processing_context": {"generated_image_prompts": [
        {"visual_concept": {"main_subject": "a blue water bottle", "visual_style": "clean studio",
                            "promotional_text_visuals": "STAY COOL"}}]}}
    run = (await import_images(client, [png_bytes(300, 200, (30, 90, 160))], metadata=metadata))["run"]
    return run["images"][0]["id"]


async def test_prompt_with_mask_is_sent_right_and_priced_from_usage(client, fake, openai_worker):
    parent = await _parent(client)
    ref = (await refine(client, parent, prompt="add sunset lighting", creativityLevel=1,
                        mask=[{"x": 0.5, "y": 0.0, "width": 0.5, "height": 0.5}]))["refinement"]
    await run_worker(openai_worker)
    request = fake.last_request(EDITS)
    assert request.field("model") == MODEL and request.field("input_fidelity") == "high"
    assert request.field("size") == "1536x1024"  # nearest supported size to 3:2
    (image,) = request.images
    mask = request.mask.image()
    assert image.image().size == mask.size == (300, 200) and mask.mode == "RGBA"
    alpha = mask.getchannel("A")
    assert alpha.getpixel((200, 50)) == 0 and alpha.getpixel((50, 50)) == 255 and alpha.getpixel((200, 150)) == 255
    assert "sunset" in request.field("prompt")

    done = (await client.data(
        """query($id: ID!) { refinement(id: $id) { status costUsd url width height
             events { stage status previewUrl costUsd } run { refinementCostUsd totalCostUsd } } }""",
        {"id": ref["id"]},
    ))["refinement"]
    assert done["status"] == "COMPLETED" and (done["width"], done["height"]) == (300, 200)
    usage = request.response_usage
    details = usage["input_tokens_details"]
    expected = load_pricing(ROOT / "configs" / "pricing.yml").cost(Usage(
        model=MODEL, text_input_tokens=details["text_tokens"], image_input_tokens=details["image_tokens"],
        image_output_tokens=usage["output_tokens"]))
    assert expected > 0
    assert done["costUsd"] == pytest.approx(expected, abs=1e-6)
    assert done["run"]["refinementCostUsd"] == pytest.approx(expected, abs=1e-6)
    stage_costs = [e["costUsd"] for e in done["events"] if e["stage"] == "prompt_refine" and e["status"] == "COMPLETED"]
    assert stage_costs == [pytest.approx(expected, abs=1e-6)]
    previews = [e["previewUrl"] for e in done["events"] if e["previewUrl"]]
    assert len(previews) == 2  # the fake streams two partial images
    result = PILImage.open(io.BytesIO((await client.http.get(done["url"])).content))
    assert result.size == (300, 200)


async def test_subject_sends_the_reference_as_second_image_with_the_concept(client, fake, openai_worker):
    from tests.conftest import REFINE

    parent = await _parent(client)
    variables = {"input": {"parentId": parent, "type": "SUBJECT", "instructions": "restore the logo", "referenceImage": None}}
    body = (await client.upload(REFINE, variables, {"input.referenceImage": ("r.png", png_bytes(40, 80, (250, 10, 10)), "image/png")})).json()
    assert body["data"]["refineImage"]["userErrors"] == []
    await run_worker(openai_worker)
    request = fake.last_request(EDITS)
    base, reference = request.images
    assert base.image().size == (300, 200) and reference.image().size == (40, 80)
    assert reference.image().convert("RGB").getpixel((5, 5)) == (250, 10, 10)
    prompt = request.field("prompt")
    assert "restore the logo" in prompt and "blue water bottle" in prompt


@pytest.mark.parametrize(
    "status,code,expected",
    [
        (429, None, "rate limit"),
        (400, "moderation_blocked", "safety system"),
        (401, "invalid_api_key", "API key"),
    ],
)
async def test_provider_errors_end_the_job_failed_with_a_clear_message(client, services, fake, openai_worker, status, code, expected):
    parent = await _parent(client)
    fake.fail_next(EDITS, status=status, code=code)
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(openai_worker)
    done = (await client.data(
        "query($id: ID!) { refinement(id: $id) { status errorMessage url events { stage status terminal } } }",
        {"id": ref["id"]},
    ))["refinement"]
    assert done["status"] == "FAILED" and done["url"] is None
    assert expected.lower() in done["errorMessage"].lower()
    assert "Traceback" not in done["errorMessage"]
    assert done["events"][-1] == {"stage": "job", "status": "FAILED", "terminal": True}
    assert list(services.storage.runs_dir.glob("*/refinements/*.png")) == []
