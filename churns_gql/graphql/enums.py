"""The schema's enums, each value described: job and stage life cycles, refinement types, error codes."""

from __future__ import annotations

import strawberry

from churns_gql import models
from churns_gql.error_codes import DESCRIPTIONS as ERROR_DESCRIPTIONS
from churns_gql.error_codes import ErrorCode

# strawberry.enum registers each Python enum in place and returns it, so these names are real types.
JobStatus = models.JobStatus
StageStatus = models.StageStatus
RefinementType = models.RefinementType
UserErrorCode = ErrorCode
strawberry.enum(JobStatus, description="Life cycle of a run's generation or of a refinement.")
strawberry.enum(StageStatus, description="Life cycle of one pipeline stage.")
strawberry.enum(RefinementType, description="What a refinement repairs or changes.")
strawberry.enum(
    UserErrorCode,
    name="UserErrorCode",
    description="Why a mutation's input was refused (userErrors' code); GraphQL errors' extensions.code uses the same values.",
)


def _describe_values(enum_type: type, descriptions: dict[str, str]) -> None:
    """Give each value of a strawberry enum made from a Python enum its description (by value name)."""
    for value in enum_type.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = descriptions[value.name]


_describe_values(UserErrorCode, {code.name: ERROR_DESCRIPTIONS[code] for code in ErrorCode})
_describe_values(
    JobStatus,
    {
        "QUEUED": "Stored and waiting for a worker.",
        "RUNNING": "A worker is running its stages.",
        "COMPLETED": "Finished; its images are ready.",
        "FAILED": "Stopped by an error; errorMessage says why.",
        "CANCELLED": "Stopped on request before it finished.",
    },
)
_describe_values(
    StageStatus,
    {
        "PENDING": "Not started yet.",
        "RUNNING": "In progress.",
        "COMPLETED": "Finished.",
        "FAILED": "Stopped by an error.",
        "SKIPPED": "Not needed for this job (e.g. no reference image to evaluate).",
        "CANCELLED": "Stopped because the job was cancelled.",
    },
)
_describe_values(
    RefinementType,
    {
        RefinementType.SUBJECT.name: "Repair or replace the main subject, optionally from a reference image.",
        RefinementType.TEXT.name: "Repair the text rendered in the image (spelling, legibility).",
        RefinementType.PROMPT.name: "Change the image (or a masked region of it) as a prompt says.",
    },
)
