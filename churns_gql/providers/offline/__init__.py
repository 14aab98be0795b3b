"""The offline provider's image editing on OpenCV and numpy: one module per capability.

tone (colour and light in LAB), inpaint (removal), background (GrabCut), prompt (the PROMPT path),
text with ocr/glyphs/fonts/fill (TEXT repair), subject with cutout/placement (SUBJECT repair), editor
(the editor class). What a prompt means and what is refused up front are pure rules in
churns_gql.offline_rules, which the API reads without loading any of this.
"""

from churns_gql.offline_rules.intents import parse_prompt, parse_prompt_intents
from churns_gql.offline_rules.support import offline_supports
from churns_gql.offline_rules.text_rules import quoted_text
from churns_gql.providers.offline.editor import LocalImageEditor

__all__ = ["LocalImageEditor", "offline_supports", "parse_prompt", "parse_prompt_intents", "quoted_text"]
