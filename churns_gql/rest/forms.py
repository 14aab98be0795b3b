"""The seed's refine form: its fields read into a RefineRequest, every problem reported with the form field's name."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile

from churns_gql.error_codes import ErrorCode
from churns_gql.models import Image, Refinement, RefinementType
from churns_gql.services.errors import Problem, UserInputError

REFINE_TYPES = {"subject": RefinementType.SUBJECT, "text": RefinementType.TEXT, "prompt": RefinementType.PROMPT}
PARENT_TYPES = ("original", "refinement")
# The services name fields as GraphQL does; REST clients see the form's names.
FORM_NAMES = {
    "parentId": "parent_image_id",
    "type": "refine_type",
    "prompt": "prompt",
    "instructions": "instructions",
    "mask": "mask_data",
    "creativityLevel": "creativity_level",
    "referenceImage": "reference_image",
}


@dataclass
class RefineForm:
    """The seed's refine form, checked for shape (the service checks the rules)."""

    refine_type: RefinementType
    parent_image_type: str
    parent_image_id: uuid.UUID | None
    generation_index: int
    prompt: str | None
    instructions: str | None
    mask: list[dict[str, float]] | None
    creativity_level: int
    reference_image: UploadFile | None


def _problem(field: str, message: str, code: ErrorCode = ErrorCode.INVALID) -> Problem:
    return Problem((field,), message, code)


def _int(form: FormData, name: str, default: int | None, problems: list[Problem]) -> int:
    raw = form.get(name)
    if raw is None or raw == "":
        if default is None:
            problems.append(_problem(name, f"{name} is required"))
        return default or 0
    try:
        return int(str(raw))
    except ValueError:
        problems.append(_problem(name, f"{name} must be an integer, not {str(raw)[:20]!r}"))
        return 0


def _mask(raw: Any, problems: list[Problem]) -> list[dict[str, float]] | None:
    """mask_data: a JSON object {x, y, width, height} in fractions of the image, or a list of them."""
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(str(raw))
    except ValueError:
        problems.append(_problem("mask_data", "mask_data must be JSON: {x, y, width, height} or a list of them"))
        return None
    rects = value if isinstance(value, list) else [value]
    keys = ("x", "y", "width", "height")
    if not all(isinstance(r, dict) and all(isinstance(r.get(k), (int, float)) for k in keys) for r in rects):
        problems.append(_problem("mask_data", "each rectangle needs numeric x, y, width and height (fractions 0..1)"))
        return None
    return [{k: float(r[k]) for k in keys} for r in rects]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return None if value is None or isinstance(value, UploadFile) or value == "" else str(value)


def read_refine_form(form: FormData) -> RefineForm:
    """The form's values, or UserInputError with every shape problem at once."""
    problems: list[Problem] = []
    kind = REFINE_TYPES.get(str(form.get("refine_type") or "").lower())
    if kind is None:
        problems.append(_problem("refine_type", "refine_type must be subject, text or prompt"))
    parent_type = str(form.get("parent_image_type") or "original").lower()
    if parent_type not in PARENT_TYPES:
        problems.append(_problem("parent_image_type", "parent_image_type must be original or refinement"))
    parent_id = None
    if parent_type == "refinement":
        try:
            parent_id = uuid.UUID(str(form.get("parent_image_id") or ""))
        except ValueError:
            problems.append(_problem("parent_image_id", "parent_image_id must be a refinement's job_id"))
    index = _int(form, "generation_index", 0, problems)
    level = _int(form, "creativity_level", 2, problems)
    mask = _mask(form.get("mask_data"), problems)
    reference = form.get("reference_image")
    if problems:
        raise UserInputError(problems)
    assert kind is not None
    return RefineForm(
        kind,
        parent_type,
        parent_id,
        index,
        _text(form, "prompt"),
        _text(form, "instructions"),
        mask,
        level,
        reference if isinstance(reference, UploadFile) and reference.filename else None,
    )


def pick_parent(
    form: RefineForm, run_id: uuid.UUID, originals: list[Image], refinements: dict[uuid.UUID, Refinement]
) -> tuple[str, uuid.UUID]:
    """The parent's (type, id) in this run: an original by generation_index, or a refinement by its job_id."""
    if form.parent_image_type == "original":
        found = [image for image in originals if image.generation_index == form.generation_index]
        if not found:
            raise UserInputError.one(
                ErrorCode.NOT_FOUND, f"the run has no original #{form.generation_index}", "generation_index"
            )
        return "Image", found[0].id
    parent = refinements.get(form.parent_image_id) if form.parent_image_id else None
    if parent is None or parent.run_id != run_id:
        raise UserInputError.one(
            ErrorCode.NOT_FOUND, "no refinement with that parent_image_id in this run", "parent_image_id"
        )
    return "Refinement", parent.id


def problems_body(exc: UserInputError) -> dict[str, Any]:
    """A refusal's JSON body: each problem with the form field it is about, a message and a code."""

    def field(problem: Problem) -> str | None:
        if not problem.field:
            return None
        if problem.field[0] == "input" and len(problem.field) > 1:
            return FORM_NAMES.get(problem.field[1], problem.field[1])
        return problem.field[0]

    return {
        "errors": [{"field": field(p), "message": p.message, "code": ErrorCode(p.code).value} for p in exc.problems]
    }
