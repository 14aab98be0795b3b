"""Reads what a run meant each image to show out of its pipeline_metadata.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Concept:
    """The parts of an image's visual concept that refinements use."""

    main_subject: str | None = None
    visual_style: str | None = None
    intended_text: str | None = None


_SUBJECT_KEYS = ("main_subject", "subject")
_STYLE_KEYS = ("visual_style", "style", "lighting_and_mood")
_TEXT_KEYS = ("promotional_text_visuals", "promotional_text", "intended_text", "text")


def _first_text(source: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict):
            # Churns nests promotional text as {"text": ..., "style": ...}.
            inner = value.get("text") or value.get("content")
            if isinstance(inner, str) and inner.strip():
                return inner.strip()
    return None


def _concept_dicts(metadata: dict[str, Any], generation_index: int) -> list[dict[str, Any]]:
    """Candidate dicts, most specific first: this image's concept, then run-wide fields."""
    found: list[dict[str, Any]] = []
    context = metadata.get("processing_context")
    containers = [context] if isinstance(context, dict) else []
    containers.append(metadata)
    for container in containers:
        for list_key in ("generated_image_prompts", "visual_concepts", "concepts"):
            items = container.get(list_key)
            if isinstance(items, list) and 0 <= generation_index < len(items):
                item = items[generation_index]
                if isinstance(item, dict):
                    inner = item.get("visual_concept")
                    found.append(inner if isinstance(inner, dict) else item)
        analysis = container.get("image_analysis_result")
        if isinstance(analysis, dict):
            found.append(analysis)
    found.append(metadata)
    return found


def concept_from_metadata(metadata: dict[str, Any] | None, generation_index: int) -> Concept:
    """The concept of original `generation_index`, or an empty one when metadata says nothing."""
    if not isinstance(metadata, dict):
        return Concept()
    candidates = _concept_dicts(metadata, generation_index)

    def pick(keys: tuple[str, ...]) -> str | None:
        for candidate in candidates:
            value = _first_text(candidate, keys)
            if value:
                return value
        return None

    return Concept(main_subject=pick(_SUBJECT_KEYS), visual_style=pick(_STYLE_KEYS), intended_text=pick(_TEXT_KEYS))
