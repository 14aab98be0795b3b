"""How much of an OpenAI edit prompt the user's own text may take (shared by refineImage's checks and the provider).

The API limits a GPT Image prompt (limits.max_prompt_chars of configs/openai_models.yml); our wording
and the run's concept (each field cut to CONCEPT_CHARS) take at most the rest. Only PyYAML is needed,
so the API process can check a request without loading the providers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

CONCEPT_CHARS = 1000
"""The most of each concept field (subject, style, intended text) a prompt quotes."""

WORDING_RESERVE = 2500
"""Room kept for our own wording around the user's text and the concept (the longest is under 1 500)."""

DEFAULT_MAX_PROMPT_CHARS = 32000
"""The GPT image models' prompt limit per the SDK, when the catalogue does not say."""


@lru_cache(maxsize=4)
def _max_prompt_chars(resolved: str) -> int:
    """limits.max_prompt_chars of the catalogue at `resolved`."""
    try:
        data = yaml.safe_load(Path(resolved).read_text()) or {}
    except FileNotFoundError:
        return DEFAULT_MAX_PROMPT_CHARS
    return int((data.get("limits") or {}).get("max_prompt_chars", DEFAULT_MAX_PROMPT_CHARS))


def max_prompt_chars(configs_dir: str | Path) -> int:
    """The API's prompt limit from configs_dir/openai_models.yml (read once per path)."""
    return _max_prompt_chars(str((Path(configs_dir) / "openai_models.yml").resolve()))


def user_text_budget(limit: int) -> int:
    """How many characters of prompt and instructions together fit a prompt limit of `limit`."""
    return limit - WORDING_RESERVE - 3 * CONCEPT_CHARS
