"""The one refinement-type enum: what a refinement repairs or changes, and the stage that does it."""

from __future__ import annotations

import enum


class RefinementType(str, enum.Enum):
    """What a refinement repairs or changes; the values are the GraphQL and database names."""

    SUBJECT = "SUBJECT"
    TEXT = "TEXT"
    PROMPT = "PROMPT"

    @property
    def stage(self) -> str:
        """The pipeline stage (a module of churns_gql.pipeline.stages) that makes this kind of edit."""
        return _STAGES[self]


_STAGES = {
    RefinementType.SUBJECT: "subject_repair",
    RefinementType.TEXT: "text_repair",
    RefinementType.PROMPT: "prompt_refine",
}
