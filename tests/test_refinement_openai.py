"""The refinement job with the OpenAI provider, through the worker, against the strict fake OpenAI server."""

from __future__ import annotations

import asyncio
import io
import shutil
from dataclasses import replace

import numpy as np
import openai
import pytest
import yaml
from PIL import Image as PILImage
from PIL import ImageDraw

from churns_gql.config import Settings
from churns_gql.imaging import Rect, feathered_mask
from churns_gql.providers.base import Usage
from churns_gql.providers.openai import OpenAIImageEditor
from churns_gql.providers.openai_catalog import load_catalogue
from tests.conftest import REFINE, ROOT, import_images, png_bytes, refine, run_worker
from tests.fake_openai import EDITS, FakeOpenAI
from tests.fake_openai_rules import image_model

MODEL = Settings.defaults().openai_image_model
CATALOGUE = load_catalogue(ROOT / "configs")
ARTIFACTS = ROOT / "test-artifacts" / "openai"
SUBJECT, STYLE, TEXT = "a blue water bottle", "clean studio light", "STAY COOL"
CANCEL = "mutation($id: ID!) { cancelRefinement(id: $id) { refinement { id status } userErrors { code } } }"
DONE = """query($id: ID!) { refinement(id: $id) { status costUsd errorMessage url width height
           events { stage status message costUsd code terminal } } }"""


@pytest.fixture
def settings(settings):
    """The OpenAI provider is the active one (the worker's editor is built below, on the fake)."""
    return settings.with_changes(provider="openai", openai_api_key="sk-test")


@pytest.fixture
def fake():
    """A strict fake OpenAI server for one test."""
    with FakeOpenAI(api_key="sk-test") as server:
        yield server


@pytest.fixture
def sleeps():
    """The delays our retry loop asked for (recorded instead of slept)."""
    return []


def make_editor(fake, sleeps, timeout_s: float = 30.0) -> OpenAIImageEditor:
    """An editor on the configured model, its client on the fake with SDK retries on (the editor turns them off)."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=2, timeout=timeout_s)

    async def sleep(seconds: float) -> None:
        """Record a retry delay without waiting."""
        sleeps.append(seconds)

    return OpenAIImageEditor(client, MODEL, CATALOGUE, sleep=sleep)


@pytest.fixture
def openai_worker(worker_services, fake, sleeps):
    """Worker services whose editor talks to the fake."""
    return replace(worker_services, editor=make_editor(fake, sleeps))


def poster(width: int = 1200, height: int = 630) -> PILImage.Image:
    """A busy parent: gradient, shapes and stripes, so stretching or shifting would show."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([255 * x * np.ones_like(y), 255 * y * np.ones_like(x), 128 + 100 * np.sin(12 * x + 7 * y)], -1)
    image = PILImage.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 80, 420, 400), fill=(240, 200, 30), outline=(0, 0, 0), width=6)
    for i in range(0, width, 40):
        draw.line((i, 460, i + 30, 600), fill=(20, 20, 20), width=3)
    draw.rectangle((700, 120, 1100, 300), fill=(30, 60, 200))
    return image


async def _parent(client, image: PILImage.Image | None = None) -> str:
    """Import `image` (or a small one) as a run whose metadata carries a concept; returns the Image id."""
    metadata = {
        "processing_context": {
            "generated_image_prompts": [
                {"visual_concept": {"main_subject": SUBJECT, "visual_style": STYLE, "promotional_text_visuals": TEXT}}
            ]
        }
    }
    data = png_bytes(300, 200, (30, 90, 160))
    if image is not None:
        out = io.BytesIO()
        image.save(out, format="PNG")
        data = out.getvalue()
    run = (await import_images(client, [data], metadata=metadata))["run"]
    return run["images"][0]["id"]


async def _done(client, ref_id: str) -> dict:
    """The refinement as the API reports it."""
    return (await client.data(DONE, {"id": ref_id}))["refinement"]


def _priced(usage: dict) -> float:
    """What a reported usage block costs at the catalogue's prices of MODEL."""
    details = usage["input_tokens_details"]
    return CATALOGUE.pricing.cost(
        Usage(
            model=MODEL,
            text_input_tokens=details["text_tokens"],
            image_input_tokens=details["image_tokens"],
            image_output_tokens=usage["output_tokens"],
        )
    )


async def test_masked_1200x630_comes_back_exact_undistorted_and_untouched_outside(client, fake, openai_worker):
    """A masked edit of a 1200x630 parent: exact size, the parent's aspect requested, bit-identical outside the band."""
    parent_image = poster()
    parent = await _parent(client, parent_image)
    rects = [Rect(0.55, 0.15, 0.35, 0.35)]
    ref = (
        await refine(
            client,
            parent,
            prompt="make the blue panel glow",
            creativityLevel=1,
            mask=[{"x": r.x, "y": r.y, "width": r.width, "height": r.height} for r in rects],
        )
    )["refinement"]
    await run_worker(openai_worker)
    done = await _done(client, ref["id"])
    assert done["status"] == "COMPLETED", done
    assert (done["width"], done["height"]) == (1200, 630)

    sent = fake.last_request(EDITS)
    assert sent.field("model") == MODEL
    width, height = (int(v) for v in sent.field("size").split("x"))
    assert image_model(MODEL).any_size and width % 16 == 0 and height % 16 == 0
    assert abs(width / height - 1200 / 630) < 0.005  # the parent's aspect, not a 3:2 standard size
    assert sent.field("input_fidelity") is None  # gpt-image-2.x takes no input_fidelity
    assert sent.images[0].image().size == sent.mask.image().size

    result = PILImage.open(io.BytesIO((await client.http.get(done["url"])).content)).convert("RGB")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result.save(ARTIFACTS / "masked_1200x630.png")
    got, want = np.asarray(result), np.asarray(parent_image)
    weight = feathered_mask((1200, 630), rects)
    outside = weight == 0
    assert np.array_equal(got[outside], want[outside])  # bit-identical beyond the feather band
    # Inside the box the fake inverted the parent: undistorted means it lines up with the parent's own pixels.
    left, top, right, bottom = rects[0].to_pixels(1200, 630)
    inner = (slice(top + 4, bottom - 4), slice(left + 4, right - 4))
    error = np.abs(got[inner].astype(int) - (255 - want[inner].astype(int))).mean()
    assert error < 6, error
    band = int((weight[(top + bottom) // 2, :left] > 0).sum())  # the feather band left of the box, in px
    assert 0 < band <= 0.15 * min(right - left, bottom - top)
    assert done["costUsd"] == pytest.approx(_priced(sent.response_usage), abs=1e-6)


@pytest.mark.parametrize("kind", ["PROMPT", "TEXT", "SUBJECT"])
async def test_every_kind_carries_the_runs_concept(client, fake, openai_worker, kind):
    """PROMPT, TEXT and SUBJECT prompts carry the run's subject, style and intended text and the user's words."""
    parent = await _parent(client)
    variables = {
        "input": {
            "parentId": parent,
            "type": kind,
            "prompt": "warmer" if kind == "PROMPT" else None,
            "instructions": None if kind == "PROMPT" else "fix it",
        }
    }
    if kind == "SUBJECT":
        variables["input"]["referenceImage"] = None
        files = {"input.referenceImage": ("r.png", png_bytes(40, 80, (250, 10, 10)), "image/png")}
        body = (await client.upload(REFINE, variables, files)).json()
    else:
        body = await client.execute(REFINE, variables)
    assert body["data"]["refineImage"]["userErrors"] == []
    await run_worker(openai_worker)
    prompt = fake.last_request(EDITS).field("prompt")
    assert SUBJECT in prompt and STYLE in prompt and TEXT in prompt
    assert ("warmer" if kind == "PROMPT" else "fix it") in prompt


async def test_a_500_then_success_records_one_cost(client, fake, openai_worker, sleeps):
    """A 500 is retried once after 1 s; only the successful call is billed and recorded."""
    parent = await _parent(client)
    fake.fail_next(EDITS, status=500)
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(openai_worker)
    done = await _done(client, ref["id"])
    calls = fake.requests_to(EDITS)
    assert done["status"] == "COMPLETED" and len(calls) == 2 and sleeps == [1.0]
    assert calls[0].response_usage is None
    assert done["costUsd"] == pytest.approx(_priced(calls[1].response_usage), abs=1e-6)
    stage = [e for e in done["events"] if e["stage"] == "prompt_refine" and e["status"] == "COMPLETED"]
    assert "retried: server_error" in stage[0]["message"]


async def test_a_429_waits_as_long_as_retry_after_says(client, fake, openai_worker, sleeps):
    """A 429 with Retry-After: 7 waits 7 s before the one retry."""
    parent = await _parent(client)
    fake.fail_next(EDITS, status=429, headers={"retry-after": "7"})
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(openai_worker)
    assert (await _done(client, ref["id"]))["status"] == "COMPLETED"
    assert sleeps == [7.0] and len(fake.requests_to(EDITS)) == 2


async def test_a_timeout_fails_may_have_been_billed_and_is_not_retried(client, fake, worker_services, sleeps):
    """A timeout is not retried: the job FAILS saying it may have been billed, with cost null."""
    parent = await _parent(client)
    fake.delay_next(EDITS, 3.0)
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(replace(worker_services, editor=make_editor(fake, sleeps, timeout_s=1.0)))
    done = await _done(client, ref["id"])
    assert done["status"] == "FAILED" and "may have been billed" in done["errorMessage"]
    assert done["costUsd"] is None  # billed for an unknown amount: not 0
    assert len(fake.requests_to(EDITS)) == 1 and sleeps == []


async def test_a_cancelled_jobs_spent_cost_is_recorded(client, fake, openai_worker):
    """Cancelled while OpenAI works: the call finishes, its cost is the CANCELLED refinement's costUsd."""
    parent = await _parent(client)
    fake.delay_next(EDITS, 1.5)
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    worker = asyncio.create_task(run_worker(openai_worker))
    for _ in range(200):
        if fake.requests_to(EDITS):
            break
        await asyncio.sleep(0.02)
    assert (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]["userErrors"] == []
    await worker
    done = await _done(client, ref["id"])
    usage = fake.last_request(EDITS).response_usage
    assert done["status"] == "CANCELLED" and done["url"] is None
    assert done["costUsd"] == pytest.approx(_priced(usage), abs=1e-6) and done["costUsd"] > 0


async def test_moderation_blocked_fails_with_message_and_code(client, fake, openai_worker):
    """A safety refusal FAILS the job with a user-facing message and the code in its events; nothing spent."""
    parent = await _parent(client)
    fake.fail_next(
        EDITS, status=400, code="moderation_blocked", message="Your request was rejected by the safety system."
    )
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(openai_worker)
    done = await _done(client, ref["id"])
    assert done["status"] == "FAILED" and "safety system" in done["errorMessage"]
    failed = [e for e in done["events"] if e["status"] == "FAILED"]
    assert all("moderation_blocked" in e["message"] for e in failed) and failed[-1]["terminal"]
    # Clients branch on the code field, not on the wording.
    assert [e["code"] for e in failed] == ["moderation_blocked", "moderation_blocked"]
    assert all(e["code"] is None for e in done["events"] if e["status"] != "FAILED")
    assert done["costUsd"] == 0.0


@pytest.mark.parametrize(
    "status,code,setting",
    [
        (401, "invalid_api_key", "OPENAI_API_KEY"),
        (403, None, "CHURNS_OPENAI_IMAGE_MODEL"),
        (404, "model_not_found", "CHURNS_OPENAI_IMAGE_MODEL"),
    ],
)
async def test_account_errors_name_the_setting(client, fake, openai_worker, status, code, setting):
    """401/403/404 fail the job with a message naming the setting to check, without retrying."""
    parent = await _parent(client)
    fake.fail_next(EDITS, status=status, code=code)
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(openai_worker)
    done = await _done(client, ref["id"])
    assert done["status"] == "FAILED" and setting in done["errorMessage"] and len(fake.requests_to(EDITS)) == 1
    assert done["events"][-1]["code"] == (code or "permission_denied")


async def test_missing_usage_leaves_cost_null_with_a_note(client, fake, worker_services, sleeps):
    """An answer without usage: COMPLETED with costUsd null and a note, not 0."""
    parent = await _parent(client)
    editor = make_editor(fake, sleeps)
    editor.stream_partials = False
    buffer = io.BytesIO()
    PILImage.new("RGB", (1024, 1024), (9, 9, 9)).save(buffer, format="PNG")
    import base64

    fake.respond_next(EDITS, {"created": 1, "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]})
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(replace(worker_services, editor=editor))
    done = await _done(client, ref["id"])
    assert done["status"] == "COMPLETED" and done["costUsd"] is None
    assert any("cost is unknown" in (e["message"] or "") for e in done["events"])


async def test_subject_without_reference_is_refused_by_refine_image(client, fake):
    """With OpenAI active, refineImage refuses SUBJECT without a reference (INVALID on referenceImage)."""
    parent = await _parent(client)
    payload = await refine(client, parent, type="SUBJECT", instructions="use the can")
    assert payload["refinement"] is None
    assert payload["userErrors"] == [
        {
            "field": ["input", "referenceImage"],
            "code": "INVALID",
            "message": "the OpenAI provider needs a reference image for a SUBJECT refinement; upload one",
        }
    ]
    assert fake.requests == []


async def test_prompt_over_the_api_limit_is_a_user_error(client, services, tmp_path):
    """User text that would push the prompt over the API's limit is a userError on the field."""
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    data = yaml.safe_load((configs / "openai_models.yml").read_text())
    data["limits"]["max_prompt_chars"] = 6000  # with our wording and the concept, 500 characters of user text fit
    (configs / "openai_models.yml").write_text(yaml.safe_dump(data))
    services.settings = services.settings.with_changes(configs_dir=configs)
    parent = await _parent(client)
    payload = await refine(client, parent, prompt="x" * 600)
    assert payload["refinement"] is None
    [error] = payload["userErrors"]
    assert error["field"] == ["input", "prompt"] and error["code"] == "INVALID" and "6,000" in error["message"]
    assert (await refine(client, parent, prompt="x" * 400))["userErrors"] == []
    # TEXT carries the user's words in instructions: the error is on that field.
    [error] = (await refine(client, parent, type="TEXT", instructions="y" * 600))["userErrors"]
    assert error["field"] == ["input", "instructions"] and error["code"] == "INVALID"


async def test_a_failed_jobs_spent_cost_is_recorded(client, fake, worker_services, sleeps):
    """OpenAI billed the call but its image is unreadable: the job FAILS and its costUsd is what was spent."""
    parent = await _parent(client)
    editor = make_editor(fake, sleeps)
    editor.stream_partials = False
    usage = {
        "input_tokens": 1_100,
        "input_tokens_details": {"text_tokens": 100, "image_tokens": 1_000},
        "output_tokens": 2_000,
        "total_tokens": 3_100,
    }
    fake.respond_next(EDITS, {"created": 1, "data": [{"b64_json": "bm90IGFuIGltYWdl"}], "usage": usage})
    ref = (await refine(client, parent, prompt="brighter"))["refinement"]
    await run_worker(replace(worker_services, editor=editor))
    done = await _done(client, ref["id"])
    assert done["status"] == "FAILED" and "could not be read" in done["errorMessage"]
    assert done["costUsd"] == pytest.approx(_priced(usage), abs=1e-6) and done["costUsd"] > 0
