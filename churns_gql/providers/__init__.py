"""Image providers: the real one (OpenAI) and the offline one (OpenCV), chosen by settings."""

from __future__ import annotations

from churns_gql.config import Settings
from churns_gql.providers.base import GenerationProvider, ImageEditor


def make_editor(settings: Settings) -> ImageEditor:
    """The image editor CHURNS_PROVIDER selects (auto: OpenAI with a key, else offline)."""
    if settings.provider_name == "openai":
        from churns_gql.providers.openai import OpenAIImageEditor

        return OpenAIImageEditor.from_settings(settings)
    from churns_gql.providers.offline import LocalImageEditor

    return LocalImageEditor()


def make_generation_provider(settings: Settings) -> GenerationProvider:
    """The generation provider CHURNS_PROVIDER selects, like make_editor."""
    if settings.provider_name == "openai":
        from churns_gql.providers.generation_openai import OpenAIGenerationProvider

        return OpenAIGenerationProvider.from_settings(settings)
    from churns_gql.providers.generation_local import LocalGenerationProvider

    return LocalGenerationProvider()
