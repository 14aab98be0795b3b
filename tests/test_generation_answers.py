"""The generation stages' answer models: their strict schemas, their validation, and the offline provider's answers."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai.lib._parsing._completions import type_to_response_format_param
from PIL import Image

from churns_gql.providers.base import ProviderError
from churns_gql.providers.generation import SCHEMAS, TEXT_STAGES, check_answer, structured_request
from churns_gql.providers.generation_answers import (
    ANSWERS,
    Assessment,
    ImageAnalysis,
    Strategies,
    StyleGuidance,
    VisualConcept,
    answer_schema,
)
from churns_gql.providers.generation_local import LocalGenerationProvider
from tests.fake_openai import schema_instance, strict_schema_problem

SCORES = {
    "concept_adherence": 4,
    "technical_quality": 4,
    "subject_preservation": None,
    "text_rendering": 3,
    "notes": "fine",
}


def test_every_stage_has_one_answer_model_and_its_schema_is_the_sdks():
    """The schema sent is the one the SDK's own structured-output helper derives from the model."""
    assert [model.stage for model in ANSWERS] == list(TEXT_STAGES)
    for model in ANSWERS:
        name, schema = SCHEMAS[model.stage]
        assert name == model.schema_name
        assert schema == type_to_response_format_param(model)["json_schema"]["schema"]
        assert strict_schema_problem(schema) is None, name
        # What the fake answers with is an answer the model accepts.
        model.model_validate(schema_instance(schema))


def test_the_fake_refuses_what_the_real_api_refuses_in_nested_definitions():
    schema = json.loads(json.dumps(answer_schema(Strategies)))
    schema["$defs"]["Strategy"].pop("additionalProperties")
    assert "additionalProperties" in strict_schema_problem(schema)
    schema = json.loads(json.dumps(answer_schema(Strategies)))
    schema["properties"]["strategies"]["items"]["$ref"] = "#/$defs/Missing"
    assert "not found" in strict_schema_problem(schema)
    assert 'type: "object"' in strict_schema_problem({"type": "array", "items": {"type": "string"}})
    nullable = {
        "type": "object",
        "properties": {"a": {"anyOf": [{"type": "object", "properties": {}}, {"type": "null"}]}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert "additionalProperties" in strict_schema_problem(nullable)


@pytest.mark.parametrize(
    "value,misfit",
    [
        ({**SCORES, "technical_quality": "4"}, "($.technical_quality should be integer)"),
        ({**SCORES, "technical_quality": True}, "($.technical_quality should be integer)"),
        ({**SCORES, "concept_adherence": 7}, "($.concept_adherence is above 5)"),
        ({**SCORES, "concept_adherence": 0}, "($.concept_adherence is below 1)"),
        ({**SCORES, "extra": 1}, "($.extra is not allowed)"),
        ({k: v for k, v in SCORES.items() if k != "notes"}, "($.notes is missing)"),
        ([], "($ should be object)"),
    ],
)
def test_a_misfit_answer_is_a_coded_error_naming_it(value, misfit):
    """Nothing is coerced: a JSON string or boolean is not a score, as JSON Schema's integer says."""
    request = structured_request(Assessment, {})
    with pytest.raises(ProviderError) as caught:
        check_answer(request, json.dumps(value), "openai")
    assert caught.value.kind == "unavailable"
    assert (
        caught.value.message == f"OpenAI answered the image_assessment stage in an unexpected shape {misfit}; try again"
    )


def test_colours_placement_and_malformed_json_are_checked():
    concept = schema_instance(answer_schema(VisualConcept))
    bad_colour = {**concept, "color_palette": ["red"]}
    with pytest.raises(ProviderError, match=r"\$.color_palette\[0\] does not match \^#\[0-9A-Fa-f\]\{6\}\$"):
        check_answer(structured_request(VisualConcept, {}), json.dumps(bad_colour), "openai")
    bad_place = {**concept, "promotional_text_visuals": {**concept["promotional_text_visuals"], "placement": "left"}}
    with pytest.raises(ProviderError, match=r"\$.promotional_text_visuals.placement: Input should be 'top'"):
        check_answer(structured_request(VisualConcept, {}), json.dumps(bad_place), "openai")
    with pytest.raises(ProviderError, match="The local provider answered the strategy stage with malformed JSON"):
        check_answer(structured_request(Strategies, {}), "{not json", "local")
    assert check_answer(structured_request(Assessment, {}), json.dumps(SCORES), "openai") == Assessment(**SCORES)


def test_the_offline_provider_answers_with_instances_of_the_same_models():
    provider = LocalGenerationProvider()
    platform = {"name": "Instagram Post", "width": 1080, "height": 1080, "aspect": "1:1"}
    brief = {"prompt": 'a red mug "HOT DEAL"', "platform": platform, "num_images": 2}
    reference = Image.new("RGB", (64, 48), (200, 20, 20))

    async def ask(model, payload, images=None):
        request = structured_request(model, payload, images)
        value = (await provider.structured(request)).value
        assert type(value) is model and check_answer(request, value, "local") is value
        # The instance is also what its own JSON, sent back through the schema check, gives.
        assert check_answer(request, value.model_dump_json(), "local") == value
        return value

    async def run():
        analysis = await ask(ImageAnalysis, {"brief": brief}, [reference])
        strategies = (await ask(Strategies, {"brief": brief, "num_strategies": 2})).strategies
        dumped = [s.model_dump() for s in strategies]
        styles = (await ask(StyleGuidance, {"brief": brief, "strategies": dumped})).style_guidance
        concept = await ask(
            VisualConcept,
            {
                "brief": brief,
                "index": 0,
                "strategy": dumped[0],
                "style": styles[0].model_dump(),
                "reference_analysis": analysis.model_dump(),
            },
        )
        await ask(
            Assessment,
            {"brief": brief, "visual_concept": concept.model_dump(), "has_reference": False},
            [Image.new("RGB", (108, 108), (10, 10, 10))],
        )
        return analysis, strategies, concept

    analysis, strategies, concept = asyncio.run(run())
    assert len(strategies) == 2 and concept.promotional_text_visuals.text == "HOT DEAL"
    assert concept.main_subject == analysis.main_subject
