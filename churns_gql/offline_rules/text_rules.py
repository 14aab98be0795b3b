"""What text a TEXT refinement should write, and when TEXT or SUBJECT cannot be done offline at all."""

from __future__ import annotations

import re

from churns_gql.refinement_types import RefinementType

# Double, curly and single quotes; a single quote only counts when not inside a word ("don't").
_QUOTED = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d|\u2018([^\u2019]+)\u2019|(?<!\w)\'([^\']+)\'(?!\w)')


def quoted_text(instructions: str | None) -> str | None:
    """The first quoted string in `instructions`, whitespace-collapsed, or None."""
    for match in _QUOTED.finditer(instructions or ""):
        text = " ".join(next(g for g in match.groups() if g is not None).split())
        if text:
            return text
    return None


def unquoted(instructions: str | None) -> str:
    """The instructions with every quoted string taken out (what the text should read is not where it is)."""
    return _QUOTED.sub(" ", instructions or "")


def intended_text(instructions: str | None, concept_text: str | None) -> tuple[str, str] | None:
    """The text to write and where it came from: quoted in the instructions first, else the run's concept."""
    quoted = quoted_text(instructions)
    if quoted:
        return quoted, "the instructions"
    if concept_text and concept_text.strip():
        return " ".join(concept_text.split()), "the image's concept"
    return None


# Where a run's promotional text breaks into separately set pieces: lines, bars, bullets, spaced dashes, sentences.
_PIECES = re.compile(r"\s*(?:\n|\||\u2022|\s[-\u2013\u2014]\s)\s*|(?<=[.!?])\s+")


def concept_pieces(concept_text: str | None) -> list[str]:
    """The pieces a concept's text is likely set as on the image (a headline, a tagline...), whole text first."""
    if not concept_text or not concept_text.strip():
        return []
    whole = " ".join(concept_text.split())
    pieces = [" ".join(piece.split()) for piece in _PIECES.split(concept_text)]
    return [whole] + [piece for piece in pieces if piece and piece != whole]


def text_subject_refusal(
    kind: RefinementType, instructions: str | None, has_reference: bool, concept_text: str | None
) -> str | None:
    """Why the offline engine cannot do this TEXT or SUBJECT refinement at all, or None when it can try."""
    if kind == RefinementType.TEXT and intended_text(instructions, concept_text) is None:
        return (
            "The offline engine needs to know what the text should read, and this image's concept has no text: "
            'put it in quotes in the instructions, e.g. The headline should read "NEW FLAVOUR".'
        )
    if kind == RefinementType.SUBJECT and not has_reference:
        return (
            "The offline engine replaces a subject with a reference image: upload the reference photo of the "
            "subject (a product shot, ideally on a plain background)."
        )
    return None
