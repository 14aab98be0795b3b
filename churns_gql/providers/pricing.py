"""Token prices per model from the model catalogue (configs/openai_models.yml), and what a provider call cost in USD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from churns_gql.providers.base import Usage

CATEGORIES = ("text_input", "cached_input", "image_input", "image_output", "text_output")
"""The token categories a price file may list, each in USD per 1M tokens."""

_USAGE_FIELDS = {
    "text_input": "text_input_tokens",
    "cached_input": "cached_input_tokens",
    "image_input": "image_input_tokens",
    "image_output": "image_output_tokens",
    "text_output": "text_output_tokens",
}


class UnknownModelPrice(KeyError):
    """The price file has no entry for a model, so its calls cannot be costed."""

    def __init__(self, model: str, source: str) -> None:
        """Remember which model was missing from which file."""
        self.model = model
        self.source = source
        super().__init__(model)

    def __str__(self) -> str:
        """A message naming the model and the file to add it to."""
        # KeyError's own str() would show just the quoted key, which says nothing about the fix.
        return f"no prices for model {self.model!r} in {self.source}; add them there before using this model"


class MissingTokenPrice(KeyError):
    """A call used tokens of a category the price file does not price for that model."""

    def __init__(self, model: str, category: str, source: str) -> None:
        """Remember the model, the unpriced category and the file."""
        self.model = model
        self.category = category
        self.source = source
        super().__init__(f"{model}.{category}")

    def __str__(self) -> str:
        """A message naming the model, the category and the file."""
        return f"model {self.model!r} used {self.category} tokens but {self.source} has no {self.category} price for it"


@dataclass(frozen=True)
class Pricing:
    """Per-model prices in USD per 1M tokens, read from one price file."""

    prices: Mapping[str, Mapping[str, float]]
    source: str = "openai_models.yml"

    def models(self) -> list[str]:
        """Every model the file prices, sorted."""
        return sorted(self.prices)

    def for_model(self, model: str) -> Mapping[str, float]:
        """The category → USD per 1M tokens map of `model`; raises UnknownModelPrice when absent."""
        try:
            return self.prices[model]
        except KeyError:
            raise UnknownModelPrice(model, self.source) from None

    def prices_category(self, model: str, category: str) -> bool:
        """Whether `model` has a price for token `category`."""
        return category in self.for_model(model)

    def cost(self, usage: Usage) -> float:
        """USD for `usage`: the sum of tokens × price / 1e6 over categories, rounded to 6 decimals."""
        prices = self.for_model(usage.model)
        total = 0.0
        for category, usage_field in _USAGE_FIELDS.items():
            tokens = getattr(usage, usage_field)
            if not tokens:
                continue
            if category not in prices:
                raise MissingTokenPrice(usage.model, category, self.source)
            total += tokens * prices[category] / 1_000_000
        return round(total, 6)


def catalogue_prices(data: Any) -> Any:
    """The {"models": {name: prices}} view of a model catalogue document; other documents unchanged."""
    if isinstance(data, dict) and isinstance(data.get("image_models"), dict):
        entries = {**data["image_models"], **(data.get("chat_models") or {})}
        return {"models": {name: (entry or {}).get("prices") or {} for name, entry in entries.items()}}
    return data


def parse_pricing(data: Any, source: str) -> Pricing:
    """A Pricing from a parsed price document or model catalogue; raises ValueError naming `source` when malformed."""
    data = catalogue_prices(data)
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ValueError(f"{source} must have a top-level 'models' mapping of model name to prices")
    prices: dict[str, Mapping[str, float]] = {}
    for model, entry in data["models"].items():
        if not isinstance(entry, dict) or not entry:
            raise ValueError(f"{source}: model {model!r} must map token categories to prices")
        model_prices: dict[str, float] = {}
        for category, value in entry.items():
            if category not in CATEGORIES:
                raise ValueError(
                    f"{source}: model {model!r} has unknown category {category!r}; use one of {CATEGORIES}"
                )
            # bool is an int subclass; a stray `yes` in YAML must not become a price of 1.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{source}: {model}.{category} must be a non-negative number, not {value!r}")
            model_prices[category] = float(value)
        prices[str(model)] = MappingProxyType(model_prices)
    return Pricing(prices=MappingProxyType(prices), source=source)


@cache
def _load(resolved: str) -> Pricing:
    """Read and parse one price file; cached by resolved path."""
    with open(resolved, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return parse_pricing(data, resolved)


def load_pricing(path: str | Path) -> Pricing:
    """The prices in the YAML file at `path`, read once per resolved path and then cached."""
    return _load(str(Path(path).resolve()))


def clear_pricing_cache() -> None:
    """Forget every loaded price file, so the next load_pricing reads the file again."""
    _load.cache_clear()


def require_prices(pricing: Pricing, model: str, categories: tuple[str, ...] | list[str]) -> None:
    """Raise MissingTokenPrice unless `pricing` prices every category for `model`.

    Providers call it at start-up: failing then beats failing to price a call already paid for.
    """
    for category in categories:
        if not pricing.prices_category(model, category):
            raise MissingTokenPrice(model, category, pricing.source)
