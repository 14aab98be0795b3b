"""Reading PROMPT text offline, and what refineImage refuses up front: pure functions, no pixels."""

from __future__ import annotations

import pytest

from churns_gql.imaging import Rect
from churns_gql.offline_rules.intents import FILL_COLOURS, Edit
from churns_gql.providers.offline import offline_supports, parse_prompt, parse_prompt_intents

BOX = [Rect(0.1, 0.1, 0.3, 0.3)]


def test_parse_lists_recognised_intents_and_ignored_content_words():
    """Recognised edits come back in order; content words are ignored, stopwords dropped."""
    applied, ignored = parse_prompt_intents("Make it a little warmer and brighter, with sparkles and a DRAGON please")
    assert applied == ["warmer", "brighter"]
    assert ignored == ["sparkles", "dragon"]


@pytest.mark.parametrize(
    ("prompt", "applied"),
    [
        ("black & white", ["black and white"]),
        ("B&W please", ["black and white"]),
        ("greyscale", ["black and white"]),
        ("more contrast, more vivid", ["more contrast", "more saturated"]),
        ("reduce the contrast", ["less contrast"]),
        ("less warm", ["cooler"]),
        ("a bit less bright", ["darker"]),
        ("washed out, golden hour", ["less saturated", "warmer"]),
        ("tint it red", ["tint red"]),
        ("make it bluer", ["tint blue"]),
        ("less of the green", ["less green"]),
        ("soften it, then sharpen", ["blur", "sharpen"]),
        ("cold and dim", ["cooler", "darker"]),
        ("sepia with a vignette", ["sepia", "vignette"]),
        ("remove the noise", ["denoise"]),
        ("remove the red tint", ["less red"]),
        ("add more contrast", ["more contrast"]),
    ],
)
def test_parse_understands_synonyms_phrases_and_modifiers(prompt, applied):
    """Synonyms, multi-word phrases and 'less'/'reduce' map to the right edits."""
    assert parse_prompt_intents(prompt) == (applied, [])


def test_parse_skips_negated_intents_and_says_so():
    """A negated edit is not applied and its words are reported as ignored."""
    applied, ignored = parse_prompt_intents("sharper but not too dark, no blur")
    assert applied == ["sharpen"]
    assert ignored == ["not too dark", "no blur"]


@pytest.mark.parametrize(
    ("prompt", "edit"),
    [
        ("20% brighter", Edit("brighter", 0.2)),
        ("brighter by 20%", Edit("brighter", 0.2)),
        ("increase the saturation by 30 percent", Edit("more saturated", 0.3)),
        ("make it 15 % warmer", Edit("warmer", 0.15)),
        ("50% black and white", Edit("black and white", 0.5)),
    ],
)
def test_parse_reads_amounts(prompt, edit):
    """A number before an edit, or after it with "by", is that edit's amount."""
    assert parse_prompt(prompt).edits == [edit]


@pytest.mark.parametrize(
    ("prompt", "target"),
    [
        ("remove the logo", "logo"),
        ("erase the watermark", "watermark"),
        ("delete the text", "text"),
        ("clean up the blue sticker", "blue sticker"),
        ("get rid of it", ""),
    ],
)
def test_parse_reads_removals(prompt, target):
    """Remove / erase / delete / clean up / get rid of name what to paint over."""
    plan = parse_prompt(prompt)
    assert plan.removal == target and plan.edits == []


def test_removal_and_tonal_edits_combine():
    """Clauses are read separately: one removes, the other re-tones."""
    plan = parse_prompt("clean up the text and make it warmer")
    assert plan.removal == "text" and [e.name for e in plan.edits] == ["warmer"]


@pytest.mark.parametrize(
    ("prompt", "blur", "fill", "gradient", "edits"),
    [
        ("blur the background", True, (), False, ()),
        ("blurry background please", True, (), False, ()),
        ("replace the background with white", False, (FILL_COLOURS["white"],), False, ()),
        ("make the background blue", False, (FILL_COLOURS["blue"],), False, ()),
        ("remove the background", False, (FILL_COLOURS["white"],), False, ()),
        ("replace the background with a gradient", False, (), True, ()),
        ("a navy to pink gradient background", False, (FILL_COLOURS["navy"], FILL_COLOURS["pink"]), True, ()),
        ("darken the background", False, (), False, (Edit("darker"),)),
        ("a light blue background", False, ((154, 176, 244),), False, ()),
        ("dark green to white gradient background", False, ((20, 90, 30), FILL_COLOURS["white"]), True, ()),
    ],
)
def test_parse_reads_background_changes(prompt, blur, fill, gradient, edits):
    """A clause naming the background changes only the background."""
    change = parse_prompt(prompt).background
    assert change is not None
    assert (change.blur, change.fill, change.gradient, change.edits) == (blur, fill, gradient, edits)


@pytest.mark.parametrize(
    "prompt",
    [
        "add a surfer in the background",
        "add a red surfer",
        "put a dog on the left",
        "x",
        "make it pop with sparkles",
        "make the image a bit more please",
    ],
)
def test_generative_or_meaningless_prompts_are_refused(prompt):
    """Asking for new content (even with a colour word in it) or for nothing known is refused with the capabilities."""
    message = offline_supports("PROMPT", prompt, None, [], False)
    assert message is not None and "cannot add or draw new things" in message
    assert "blur the background" in message and "remove the logo" in message


def test_a_surfer_is_not_a_red_tint():
    """Regression: "add a red surfer" used to tint the image red; the whole clause is now ignored."""
    plan = parse_prompt("warmer, add a red surfer")
    assert [e.name for e in plan.edits] == ["warmer"] and plan.ignored == ["add a red surfer"]


def test_removal_needs_a_rectangle():
    """Removal without a mask is refused with a message saying to select it; with one it is accepted."""
    message = offline_supports("PROMPT", "remove the logo", None, [], False)
    assert message is not None and "remove the logo" in message and "rectangle" in message
    assert offline_supports("PROMPT", "remove the logo", None, BOX, False) is None


@pytest.mark.parametrize("prompt", ["warmer", "warmer with a dragon", "blur the background", "20% darker"])
def test_doable_prompts_pass(prompt):
    """Anything with at least one thing the engine can do goes ahead (ignored words end up in the notes)."""
    assert offline_supports("PROMPT", prompt, None, [], False) is None


def test_prompt_falls_back_to_instructions_and_text_and_subject_rules_apply():
    """The instructions are read when the prompt is empty; TEXT needs text to write, SUBJECT a reference."""
    assert offline_supports("PROMPT", None, "make it warmer", [], False) is None
    assert offline_supports("PROMPT", "  ", "add a surfer", [], False) is not None
    assert "quotes" in offline_supports("TEXT", None, "fix it", [], False)
    assert offline_supports("TEXT", None, "fix it", [], False, concept_text="NEW FLAVOUR") is None
    assert offline_supports("TEXT", None, 'it should read "SALE"', [], False) is None
    assert offline_supports("SUBJECT", None, "fix it", [], True) is None
    assert "reference" in offline_supports("SUBJECT", None, "fix it", [], False)
