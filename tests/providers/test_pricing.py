"""Pricing: the prices of the model catalogue (configs/openai_models.yml), cost arithmetic, and errors for unpriced models."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from churns_gql.providers.base import Usage
from churns_gql.providers.pricing import (
    MissingTokenPrice,
    UnknownModelPrice,
    clear_pricing_cache,
    load_pricing,
    parse_pricing,
)

PRICING_FILE = Path(__file__).resolve().parents[2] / "configs" / "openai_models.yml"


def test_shipped_catalogue_has_the_list_prices():
    """The catalogue carries the per-1M-token prices its comments cite, cached input included."""
    pricing = load_pricing(PRICING_FILE)
    image2 = {"text_input": 5.0, "cached_input": 1.25, "image_input": 8.0, "image_output": 30.0}
    for model in ("gpt-image-2", "gpt-image-2.5-sunburst", "gpt-image-2.5-flare", "gpt-image-2.6-sunburst"):
        assert dict(pricing.for_model(model)) == image2, model
    assert dict(pricing.for_model("gpt-image-1.5")) == {
        "text_input": 5.0,
        "cached_input": 1.25,
        "image_input": 8.0,
        "image_output": 32.0,
    }
    assert dict(pricing.for_model("gpt-image-1-mini")) == {
        "text_input": 2.0,
        "cached_input": 0.2,
        "image_input": 2.5,
        "image_output": 8.0,
    }
    assert dict(pricing.for_model("gpt-5.4-mini")) == {"text_input": 0.75, "cached_input": 0.075, "text_output": 4.5}
    assert dict(pricing.for_model("gpt-4o-mini")) == {"text_input": 0.15, "cached_input": 0.075, "text_output": 0.6}


def test_cached_input_is_billed_at_its_own_rate():
    """Cached prompt tokens cost the cached_input price, not the text_input one."""
    pricing = load_pricing(PRICING_FILE)
    usage = Usage(model="gpt-5.4-mini", text_input_tokens=1_000, cached_input_tokens=9_000, text_output_tokens=100)
    assert pricing.cost(usage) == round((1_000 * 0.75 + 9_000 * 0.075 + 100 * 4.5) / 1e6, 6) == 0.001875


def test_cost_sums_tokens_times_price_per_million():
    """Each category's tokens are multiplied by its price per 1M tokens and summed."""
    pricing = load_pricing(PRICING_FILE)
    usage = Usage(model="gpt-image-1", text_input_tokens=1_000, image_input_tokens=2_000, image_output_tokens=4_160)
    assert pricing.cost(usage) == pytest.approx((1_000 * 5 + 2_000 * 10 + 4_160 * 40) / 1e6, abs=1e-12)
    assert pricing.cost(usage) == 0.19140


def test_cost_of_chat_usage_includes_text_output():
    """Chat models are billed for text input and text output."""
    pricing = load_pricing(PRICING_FILE)
    usage = Usage(model="gpt-4o-mini", text_input_tokens=1_234_567, text_output_tokens=89_012)
    assert pricing.cost(usage) == round(1_234_567 * 0.15 / 1e6 + 89_012 * 0.60 / 1e6, 6)


def test_cost_is_rounded_to_six_decimals():
    """Costs are rounded to micro-dollars."""
    pricing = parse_pricing({"models": {"m": {"text_input": 0.15}}}, "inline")
    assert pricing.cost(Usage(model="m", text_input_tokens=7)) == 0.000001  # 0.00000105 rounds to 1e-6
    assert pricing.cost(Usage(model="m", text_input_tokens=3)) == 0.0  # 0.00000045 rounds to 0


def test_zero_usage_costs_nothing():
    """A call that used no tokens costs 0."""
    assert load_pricing(PRICING_FILE).cost(Usage(model="gpt-image-1.5")) == 0.0


def test_unknown_model_raises_clear_key_error():
    """An unpriced model raises UnknownModelPrice, a KeyError naming the model and the file."""
    pricing = load_pricing(PRICING_FILE)
    with pytest.raises(UnknownModelPrice) as info:
        pricing.cost(Usage(model="gpt-image-9", image_output_tokens=10))
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "gpt-image-9" in message
    assert str(PRICING_FILE) in message
    assert info.value.model == "gpt-image-9"


def test_tokens_of_an_unpriced_category_raise():
    """Tokens in a category the model has no price for are an error, not silently free."""
    pricing = load_pricing(PRICING_FILE)
    with pytest.raises(MissingTokenPrice) as info:
        pricing.cost(Usage(model="gpt-4.1", text_input_tokens=5, image_output_tokens=1))
    assert isinstance(info.value, KeyError)
    assert "image_output" in str(info.value) and "gpt-4.1" in str(info.value)


def test_load_pricing_is_cached_per_path(tmp_path):
    """The same path gives the same object until the cache is cleared; another path is read separately."""
    first = tmp_path / "a.yml"
    first.write_text(yaml.safe_dump({"models": {"m": {"text_input": 1.0}}}))
    second = tmp_path / "b.yml"
    second.write_text(yaml.safe_dump({"models": {"m": {"text_input": 2.0}}}))
    assert load_pricing(first) is load_pricing(str(first))
    assert load_pricing(second).for_model("m")["text_input"] == 2.0
    first.write_text(yaml.safe_dump({"models": {"m": {"text_input": 3.0}}}))
    assert load_pricing(first).for_model("m")["text_input"] == 1.0
    clear_pricing_cache()
    assert load_pricing(first).for_model("m")["text_input"] == 3.0


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"models": []},
        {"models": {"m": {"text_inptu": 1.0}}},
        {"models": {"m": {"text_input": -1}}},
        {"models": {"m": {"text_input": "cheap"}}},
        {"models": {"m": {"text_input": True}}},
        {"models": {"m": {}}},
    ],
)
def test_malformed_price_files_are_rejected(document):
    """A malformed price file raises ValueError naming the file."""
    with pytest.raises(ValueError, match="inline"):
        parse_pricing(document, "inline")
