"""The OpenAI model catalogue (configs/openai_models.yml): what each model takes, its size rules, limits and prices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from churns_gql.providers.pricing import Pricing, parse_pricing

CATALOGUE_FILE = "openai_models.yml"
"""The catalogue's file name inside the configs folder."""


@dataclass(frozen=True)
class AnySize:
    """Size rules of a model that takes any W×H within limits."""

    multiple: int
    max_edge: int
    min_pixels: int
    max_pixels: int
    max_aspect: float
    target_max_pixels: int


@dataclass(frozen=True)
class ImageModelSpec:
    """One image model: the parameter values it takes and its size rules."""

    name: str
    input_fidelity: tuple[str, ...]
    qualities: tuple[str, ...]
    fixed_sizes: tuple[tuple[int, int], ...] = ()
    any_size: AnySize | None = None
    shutdown: dt.date | None = None

    def takes_size(self, width: int, height: int) -> bool:
        """Whether `size` is a WxH this model accepts."""
        if self.any_size is None:
            return (width, height) in self.fixed_sizes
        rules = self.any_size
        long, short = max(width, height), min(width, height)
        return (
            width % rules.multiple == 0
            and height % rules.multiple == 0
            and long <= rules.max_edge
            and rules.min_pixels <= width * height <= rules.max_pixels
            and short > 0
            and long / short <= rules.max_aspect + 1e-9
        )


@dataclass(frozen=True)
class Limits:
    """API-wide limits of the image endpoints."""

    max_prompt_chars: int = 32000
    max_image_bytes: int = 50 * 1024 * 1024
    max_mask_bytes: int = 4 * 1024 * 1024
    max_images: int = 16
    max_partial_images: int = 3


@dataclass(frozen=True)
class Catalogue:
    """Every known model, the defaults, the limits and the prices, from one file."""

    image_models: dict[str, ImageModelSpec]
    chat_shutdowns: dict[str, dt.date | None]
    pricing: Pricing
    limits: Limits
    default_image_model: str
    default_chat_model: str
    source: str = CATALOGUE_FILE

    def image_model(self, name: str) -> ImageModelSpec:
        """The spec of image model `name`; KeyError when the catalogue does not list it."""
        return self.image_models[name]


def _size(text: str) -> tuple[int, int]:
    """'1536x1024' as (1536, 1024)."""
    width, _, height = str(text).partition("x")
    return int(width), int(height)


def _date(value: Any, where: str) -> dt.date | None:
    """A shutdown date from YAML (a date or an ISO string), or None."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: shutdown must be a date like 2026-10-23, not {value!r}") from None


def _image_spec(name: str, entry: dict[str, Any], source: str) -> ImageModelSpec:
    """One image model's spec from its catalogue entry."""
    sizes = entry.get("sizes") or {}
    any_size = None
    fixed: tuple[tuple[int, int], ...] = ()
    if "any" in sizes:
        any_size = AnySize(**{k: (float(v) if k == "max_aspect" else int(v)) for k, v in sizes["any"].items()})  # type: ignore[arg-type]  # each key gets its own type
    elif "fixed" in sizes:
        fixed = tuple(_size(s) for s in sizes["fixed"])
    else:
        raise ValueError(f"{source}: image model {name!r} needs sizes: fixed: [...] or any: {{...}}")
    return ImageModelSpec(
        name=name,
        input_fidelity=tuple(str(v) for v in entry.get("input_fidelity") or ()),
        qualities=tuple(str(v) for v in entry.get("qualities") or ("auto",)),
        fixed_sizes=fixed,
        any_size=any_size,
        shutdown=_date(entry.get("shutdown"), f"{source}: {name}"),
    )


def parse_catalogue(data: Any, source: str) -> Catalogue:
    """A Catalogue from the parsed YAML document; ValueError naming `source` when malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("image_models"), dict):
        raise ValueError(f"{source} must have an 'image_models' mapping")
    images = data["image_models"]
    chats = data.get("chat_models") or {}
    prices = {name: (entry or {}).get("prices") or {} for name, entry in {**images, **chats}.items()}
    defaults = data.get("defaults") or {}
    return Catalogue(
        image_models={str(n): _image_spec(str(n), e or {}, source) for n, e in images.items()},
        chat_shutdowns={str(n): _date((e or {}).get("shutdown"), f"{source}: {n}") for n, e in chats.items()},
        pricing=parse_pricing({"models": prices}, source),
        limits=Limits(**{k: int(v) for k, v in (data.get("limits") or {}).items()}),
        default_image_model=str(defaults.get("image_model", "")),
        default_chat_model=str(defaults.get("chat_model", "")),
        source=source,
    )


@lru_cache(maxsize=4)
def _load(resolved: str) -> Catalogue:
    """Read and parse one catalogue file; cached by resolved path."""
    with open(resolved, encoding="utf-8") as fh:
        return parse_catalogue(yaml.safe_load(fh), resolved)


def load_catalogue(configs_dir: str | Path) -> Catalogue:
    """The catalogue in `configs_dir`, read once per path."""
    return _load(str((Path(configs_dir) / CATALOGUE_FILE).resolve()))


def _retired(shutdown: dt.date | None, today: dt.date) -> bool:
    """Whether a model with this shutdown date is no longer served on `today`."""
    return shutdown is not None and shutdown <= today


def image_model_problem(catalogue: Catalogue, model: str, setting: str, today: dt.date | None = None) -> str | None:
    """Why image model `model` (named by `setting`) cannot be used, or None when it can."""
    today = today or dt.date.today()
    spec = catalogue.image_models.get(model)
    if spec is None:
        known = ", ".join(n for n, s in sorted(catalogue.image_models.items()) if not _retired(s.shutdown, today))
        return f"{setting}={model!r} is not an OpenAI image model this server knows; use one of: {known} (see {catalogue.source})"
    if _retired(spec.shutdown, today):
        return (
            f"{setting}={model!r} was shut down by OpenAI on {spec.shutdown:%Y-%m-%d}; "
            f"set it to a current model such as {catalogue.default_image_model}"
        )
    return None


def chat_model_problem(catalogue: Catalogue, model: str, setting: str, today: dt.date | None = None) -> str | None:
    """Why chat model `model` (named by `setting`) cannot be used, or None when it can."""
    today = today or dt.date.today()
    if model not in catalogue.chat_shutdowns:
        known = ", ".join(n for n, d in sorted(catalogue.chat_shutdowns.items()) if not _retired(d, today))
        return (
            f"{setting}={model!r} is not a chat model this server knows; use one of: {known} (see {catalogue.source})"
        )
    shutdown = catalogue.chat_shutdowns[model]
    if _retired(shutdown, today):
        return (
            f"{setting}={model!r} was shut down by OpenAI on {shutdown:%Y-%m-%d}; "
            f"set it to a current model such as {catalogue.default_chat_model}"
        )
    return None


def shutdown_warning(catalogue: Catalogue, model: str, setting: str, today: dt.date | None = None) -> str | None:
    """A warning when `model` is still served but has an announced shutdown date."""
    today = today or dt.date.today()
    spec = catalogue.image_models.get(model)
    shutdown = spec.shutdown if spec else catalogue.chat_shutdowns.get(model)
    if shutdown is None or _retired(shutdown, today):
        return None
    return f"{setting}={model!r} will be shut down by OpenAI on {shutdown:%Y-%m-%d}; plan to move off it"
