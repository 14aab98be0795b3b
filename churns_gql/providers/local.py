"""The offline image editor's historical import path; the work lives in churns_gql.providers.offline."""

from churns_gql.providers.offline import LocalImageEditor, parse_prompt_intents, quoted_text

__all__ = ["LocalImageEditor", "parse_prompt_intents", "quoted_text"]
