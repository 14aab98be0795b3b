"""The offline provider's image editing on OpenCV and numpy: one module per capability.

intents (reading a prompt), tone (colour and light in LAB), inpaint (removal), background (GrabCut),
prompt (the PROMPT path), support (what refineImage refuses up front), editor (the editor class).
"""

from churns_gql.providers.offline.editor import LocalImageEditor
from churns_gql.providers.offline.intents import parse_prompt, parse_prompt_intents, quoted_text
from churns_gql.providers.offline.support import offline_supports

__all__ = ["LocalImageEditor", "offline_supports", "parse_prompt", "parse_prompt_intents", "quoted_text"]
