"""The generation job with the OpenAI provider, against the fake OpenAI server on loopback."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace

import openai
import pytest
from PIL import Image as PILImage

from churns_gql.config import Settings
from churns_gql.providers.base import ProviderError, Usage
from churns_gql.providers.generation import SCHEMAS, GenerationConfig, load_generation_config
from churns_gql.providers.generation_openai import OpenAIGenerationProvider, configured_model_problems
from churns_gql.providers.openai_catalog import load_catalogue
from tests.conftest import ROOT, png_bytes, run_worker
from tests.fake_openai import CHAT, EDITS, GENERATIONS, FakeOpenAI, chat_body, schema_answer
from tests.fake_openai_rules import CHAT_MODELS, TODAY
from tests.test_generation_engine import RUN, create, create_with_reference
from tests.test_generation_rules import _ended_cleanly

CATALOGUE = load_catalogue(ROOT / "configs")
IMAGE_MODEL = Settings.defaults().openai_image_model
CONFIG = load_generation_config(ROOT / "configs" / "generation.yml")
CHAT_MODEL = CONFIG.model_for("strategy")
PRICING = CATALOGUE.pricing


@pytest.fixture
def fake():
    """The fake OpenAI server, answering chat with valid instances of the requested schema."""
    with FakeOpenAI(api_key="sk-test", chat_content=schema_answer) as server:
        yield server


@pytest.fixture
def openai_worker(worker_services, fake):
    """Worker services whose generation provider talks to the fake."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    return replace(worker_services, generator=OpenAIGenerationProvider(client, IMAGE_MODEL, CATALOGUE, CONFIG))


def _chat_cost(request) -> float:
    """What a recorded chat call cost, from the usage the fake answered with."""
    usage = request.response_usage
    return PRICING.cost(
        Usage(
            model=request.json["model"],
            text_input_tokens=usage["prompt_tokens"],
            text_output_tokens=usage["completion_tokens"],
        )
    )


def _image_cost(request) -> float:
    """What a recorded image call cost, from the usage the fake answered with."""
    usage = request.response_usage
    details = usage["input_tokens_details"]
    return PRICING.cost(
        Usage(
            model=IMAGE_MODEL,
            text_input_tokens=details["text_tokens"],
            image_input_tokens=details["image_tokens"],
            image_output_tokens=usage["output_tokens"],
        )
    )


def _images_in(request) -> list[PILImage.Image]:
    """The images a chat request showed the model."""
    parts = request.json["messages"][1]["content"]
    return [
        PILImage.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])))
        for p in parts
        if p["type"] == "image_url"
    ]


async def test_a_run_sends_schemas_and_image_parameters_and_is_priced_from_usage(client, services, fake, openai_worker):
    """Each text stage sends its strict schema; images.generate gets model, size, n, quality; costs are usage × price."""
    run_id = (await create(client, platform="Pinterest", numImages=2))["run"]["id"]
    await run_worker(openai_worker)
    run = (await client.data(RUN, {"id": run_id}))["run"]
    assert run["status"] == "COMPLETED", run["errorMessage"]

    per_stage = {"strategy": 1, "style_guide": 1, "creative_expert": 2, "image_assessment": 2}
    assert len(fake.requests_to(CHAT)) == sum(per_stage.values())  # image_eval is skipped without a reference
    expected: dict[str, float] = {}
    for stage, calls in per_stage.items():
        name, schema = SCHEMAS[stage]
        requests = fake.chat_requests(name)
        assert len(requests) == calls
        for request in requests:
            body = request.json
            assert body["model"] == CHAT_MODEL
            assert body["response_format"] == {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": schema},
            }
            assert body["messages"][0]["role"] == "system"
            brief = json.loads(body["messages"][1]["content"][0]["text"])["brief"]
            assert brief["platform"]["name"] == "Pinterest" and brief["num_images"] == 2
        expected[stage] = sum(_chat_cost(r) for r in requests)
    assessed = fake.chat_requests("image_assessment")
    assert [img.size for r in assessed for img in _images_in(r)] == [(512, 768)] * 2

    generations = fake.requests_to(GENERATIONS)
    assert len(generations) == 2 and fake.requests_to(EDITS) == []
    for request in generations:
        assert {k: request.json[k] for k in ("model", "size", "n", "quality", "output_format")} == {
            "model": IMAGE_MODEL,
            "size": "1024x1536",
            "n": 1,
            "quality": "medium",
            "output_format": "png",
        }
        assert set(request.json) == {"model", "prompt", "size", "n", "quality", "output_format"}
    assert sorted(r.json["prompt"] for r in generations) == sorted(
        p["prompt"] for p in run["metadata"]["processing_context"]["final_prompts"]
    )
    expected["image_generation"] = sum(_image_cost(r) for r in generations)

    stage_costs = {s["name"]: s["costUsd"] for s in run["stages"]}
    assert stage_costs["image_eval"] is None and stage_costs["prompt_assembly"] is None
    for stage, cost in expected.items():
        assert cost > 0 and stage_costs[stage] == pytest.approx(cost, abs=2e-6)
    total = sum(expected.values())
    assert run["generationCostUsd"] == pytest.approx(total, abs=1e-5)
    summary = run["metadata"]["cost_summary"]
    assert summary["total_usd"] == pytest.approx(total, abs=1e-5) and set(summary["stages"]) == set(expected)
    assert [(i["width"], i["height"]) for i in run["images"]] == [(1024, 1536)] * 2
    concept = run["metadata"]["processing_context"]["generated_image_prompts"][0]["visual_concept"]
    assert concept == json.loads(
        schema_answer(
            {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMAS["creative_expert"][1]}}}
        )
    )


async def test_a_reference_is_shown_to_the_text_model_and_edited_at_the_nearest_size(
    client, services, fake, openai_worker
):
    """With a reference: image_eval sees it, images.edit edits it at the nearest size, the result is cropped to the platform."""
    run_id = (await create_with_reference(client, png_bytes(300, 200, (10, 200, 30)), platform="Facebook Post"))["run"][
        "id"
    ]
    await run_worker(openai_worker)
    run = (await client.data(RUN, {"id": run_id}))["run"]
    assert run["status"] == "COMPLETED", run["errorMessage"]
    (described,) = fake.chat_requests("image_analysis")
    (shown,) = _images_in(described)
    assert shown.size == (300, 200) and shown.convert("RGB").getpixel((5, 5)) == (10, 200, 30)
    assert [len(_images_in(r)) for r in fake.chat_requests("image_assessment")] == [2]  # the result and the reference
    (edit,) = fake.requests_to(EDITS)
    assert fake.requests_to(GENERATIONS) == []
    width, height = (int(v) for v in edit.field("size").split("x"))
    assert abs(width / height - 1200 / 630) < 0.005 and width * height < 1.1 * 1200 * 630  # the platform's own aspect
    assert edit.field("input_fidelity") is None and edit.field("n") == "1"  # gpt-image-2.x takes no input_fidelity
    assert edit.images[0].image().size == (300, 200)
    assert edit.field("prompt").startswith("Using the provided image as the main subject")
    folder = services.storage.run_dir(run["metadata"]["run_id"])
    assert PILImage.open(folder / "originals/image_0.png").size == (1200, 630)
    assert run["stages"][-1]["costUsd"] == pytest.approx(
        sum(_chat_cost(r) for r in fake.chat_requests("image_assessment")), abs=2e-6
    )


@pytest.mark.parametrize(
    "path,status,code,stage,expected",
    [
        (CHAT, 429, None, "strategy", "rate limit"),
        (CHAT, 401, "invalid_api_key", "strategy", "API key"),
        (CHAT, 404, "model_not_found", "strategy", f"{CHAT_MODEL} to this account; check text_models.strategy in"),
        (GENERATIONS, 429, "insufficient_quota", "image_generation", "out of quota"),  # not cured by retrying
        (GENERATIONS, 400, "moderation_blocked", "image_generation", "safety system blocked this generation"),
    ],
)
async def test_provider_errors_fail_the_run_cleanly(
    client, services, fake, openai_worker, path, status, code, stage, expected
):
    """An API error ends the run FAILED at its stage with a clear message, no files, and the spent cost kept."""
    fake.fail_next(path, status=status, code=code)
    run_id = (await create(client, numImages=2))["run"]["id"]
    await run_worker(openai_worker)
    data = await _ended_cleanly(client, services, run_id, "FAILED")
    assert expected.lower() in data["errorMessage"].lower() and "Traceback" not in data["errorMessage"]
    assert (data["stages"][-1]["name"], data["stages"][-1]["status"]) == (stage, "FAILED")
    if path == GENERATIONS:
        # The calls that were made cost money even though the run failed.
        spent = sum(_chat_cost(r) for r in fake.requests_to(CHAT)) + sum(
            _image_cost(r) for r in fake.requests_to(GENERATIONS) if r.response_usage
        )
        assert data["generationCostUsd"] == pytest.approx(spent, abs=1e-5) and spent > 0


@pytest.mark.parametrize(
    "content,message",
    [
        (
            '{"strategies": [{"target_audience": 7, "target_niche": "a", "target_objective": "b", "target_voice": "c"}]}',
            "OpenAI answered the strategy stage in an unexpected shape ($.strategies[0].target_audience should be string)",
        ),
        ('{"strategies": [{"target_audience": "a"}]}', "target_niche is missing and 2 more"),
        ('{"strategies": []}', "OpenAI gave 0 strategies for 1 images"),
        ("not json at all", "malformed JSON"),
    ],
)
async def test_an_answer_that_breaks_the_schema_fails_the_stage(
    client, services, fake, openai_worker, content, message
):
    """A malformed or off-schema answer fails its stage with a message naming the misfit."""
    fake.respond_chat_next(content)
    run_id = (await create(client))["run"]["id"]
    await run_worker(openai_worker)
    data = await _ended_cleanly(client, services, run_id, "FAILED")
    assert message in data["errorMessage"]
    assert (data["stages"][-1]["name"], data["stages"][-1]["status"]) == ("strategy", "FAILED")


def test_every_schema_is_strict_and_the_fake_accepts_it():
    """Every stage schema passes the strict-mode rules the real API enforces."""
    from tests.fake_openai import strict_schema_problem

    for name, schema in SCHEMAS.values():
        assert strict_schema_problem(schema) is None, name
    assert "additionalProperties" in strict_schema_problem({"type": "object", "properties": {}})


def test_unknown_or_shut_down_models_are_refused_naming_the_setting():
    """A configured model the catalogue does not list, or lists as shut down, is refused before any call."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError, match="text_models.strategy in configs/generation.yml='gpt-9'"):
        OpenAIGenerationProvider(client, IMAGE_MODEL, CATALOGUE, GenerationConfig(text_models={"strategy": "gpt-9"}))
    with pytest.raises(ProviderError, match="'gpt-4.1-nano' was shut down by OpenAI on 2026-10-23"):
        OpenAIGenerationProvider(
            client, IMAGE_MODEL, CATALOGUE, GenerationConfig(text_models={"default": "gpt-4.1-nano"})
        )
    with pytest.raises(ProviderError, match="CHURNS_OPENAI_IMAGE_MODEL='gpt-image-1' was shut down"):
        OpenAIGenerationProvider(client, "gpt-image-1", CATALOGUE, CONFIG)
    with pytest.raises(ProviderError, match="CHURNS_OPENAI_IMAGE_MODEL='gpt-5.4-mini' is not an OpenAI image model"):
        OpenAIGenerationProvider(client, "gpt-5.4-mini", CATALOGUE, CONFIG)


def test_shipped_chat_models_are_current_and_priced():
    """Every stage's chat model is served (by the fake's independent list) and priced, with cached input."""
    errors, _ = configured_model_problems(Settings.defaults(openai_api_key="k", configs_dir=ROOT / "configs"))
    assert errors == []
    for stage in ("image_eval", "strategy", "style_guide", "creative_expert", "image_assessment"):
        model = CONFIG.model_for(stage)
        assert CHAT_MODELS[model] is None or CHAT_MODELS[model] > TODAY
        assert set(PRICING.for_model(model)) == {"text_input", "cached_input", "text_output"}


def test_stages_generation_yml_leaves_out_use_the_catalogues_current_chat_model(tmp_path):
    """Without text_models (or without the file) every stage falls back to the catalogue's default chat model."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "openai_models.yml").write_text((ROOT / "configs" / "openai_models.yml").read_text())
    (configs / "generation.yml").write_text("image_quality: medium\n")
    settings = Settings.defaults(provider="openai", openai_api_key="k", configs_dir=configs)
    assert configured_model_problems(settings) == ([], [])  # no error, and no "will be shut down" warning
    for path in (configs / "generation.yml", configs / "absent.yml"):
        assert load_generation_config(path).model_for("strategy") == CATALOGUE.default_chat_model
    assert CATALOGUE.chat_shutdowns[CATALOGUE.default_chat_model] is None


def test_cached_prompt_tokens_are_priced_at_the_cached_rate():
    """A chat usage block with cached tokens is billed text_input for the rest and cached_input for those."""
    from types import SimpleNamespace

    from churns_gql.providers.generation_openai import chat_usage

    usage = chat_usage(
        SimpleNamespace(
            prompt_tokens=10_000, completion_tokens=500, prompt_tokens_details=SimpleNamespace(cached_tokens=8_000)
        ),
        CHAT_MODEL,
    )
    assert (usage.text_input_tokens, usage.cached_input_tokens, usage.text_output_tokens) == (2_000, 8_000, 500)
    prices = PRICING.for_model(CHAT_MODEL)
    expected = (2_000 * prices["text_input"] + 8_000 * prices["cached_input"] + 500 * prices["text_output"]) / 1e6
    assert PRICING.cost(usage) == round(expected, 6) and prices["cached_input"] < prices["text_input"]


async def test_a_malformed_answer_still_counts_its_cost(client, services, fake, openai_worker):
    """An answer that is not JSON was billed like any other: the run's cost keeps it (it was dropped before)."""
    fake.respond_chat_next("not json at all")
    run_id = (await create(client))["run"]["id"]
    await run_worker(openai_worker)
    data = await _ended_cleanly(client, services, run_id, "FAILED")
    assert len(fake.requests_to(CHAT)) == 1
    usage = chat_body("not json at all")["usage"]  # what the scripted answer reports
    billed = PRICING.cost(
        Usage(model=CHAT_MODEL, text_input_tokens=usage["prompt_tokens"], text_output_tokens=usage["completion_tokens"])
    )
    assert billed > 0 and data["generationCostUsd"] == pytest.approx(billed, abs=1e-6)
