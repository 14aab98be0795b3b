"""The offline image editor: deterministic OpenCV work for PROMPT, and TEXT and SUBJECT repairs, off the event loop."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from churns_gql import image_lane
from churns_gql.imaging import pixel_boxes
from churns_gql.offline_rules.intents import PromptPlan, parse_prompt
from churns_gql.offline_rules.support import offline_supports, prompt_text
from churns_gql.providers.base import EditRequest, EditResult, ProviderError, RefinementType
from churns_gql.providers.offline.prompt import edit_prompt
from churns_gql.providers.offline.subject import repair_subject
from churns_gql.providers.offline.text import repair_text

# How far each creativity level pushes an edit, relative to the medium level.
_STRENGTH = {1: 0.5, 2: 1.0, 3: 1.6}

PREVIEW_SIDE = 512
"""Longest side of a streamed preview: it is looked at for a moment, not kept."""

PREVIEW_TONAL_PIXELS = 4_000_000
"""Image size from which a tonal-only edit streams a preview: 80-100 ms at 1 MP, where a preview (its own edit,
PNG, file and event) cost more than half as much again and came a moment before the result; 0.35-0.65 s at 4 MP."""

Repair = Callable[[EditRequest, float], "tuple[Image.Image, str]"]


def strength_for(creativity: int) -> float:
    """How hard to push an edit for creativity 1 (subtle) to 3 (strong); out-of-range values clamp."""
    return _STRENGTH[max(1, min(3, int(creativity)))]


def repairer(kind: RefinementType) -> Repair:
    """The function that performs a TEXT or SUBJECT repair."""
    if kind == RefinementType.TEXT:
        return repair_text
    return repair_subject


def _preview(request: EditRequest, strength: float) -> Image.Image:
    """A half-strength preview of a PROMPT edit, at most PREVIEW_SIDE pixels on its longest side."""
    small = request.image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    plan = parse_prompt(prompt_text(request.prompt, request.instructions))
    image, _ = edit_prompt(small, request.rects, plan, strength, preview=True)
    return image


def wants_preview(request: EditRequest, plan: PromptPlan) -> bool:
    """Whether a PROMPT edit takes long enough for a preview to help: removal and background changes take seconds,
    tonal edits only on large images."""
    if (plan.removal is not None and request.rects) or plan.background is not None:
        return True
    width, height = request.image.size
    return width * height >= PREVIEW_TONAL_PIXELS


class LocalImageEditor:
    """An image editor that runs offline, costs nothing and gives the same output for the same input."""

    name = "local"

    def warm_up(self) -> None:
        """Load what the first TEXT repair would otherwise wait for (the OCR models); call it off the event loop."""
        from churns_gql.providers.offline.ocr import warm_up

        warm_up()

    async def edit(self, request: EditRequest) -> EditResult:
        """Apply the request on the process's image lane and say what was done."""
        width, height = request.image.size
        if width == 0 or height == 0:
            raise ProviderError("bad_request", "The base image is empty.")
        if request.rects and not pixel_boxes((width, height), request.rects):
            raise ProviderError("bad_request", "The selected area lies outside the image; select a part of it.")
        strength = strength_for(request.creativity)
        if request.kind == RefinementType.PROMPT:
            return await self._prompt(request, strength)
        if request.kind in (RefinementType.TEXT, RefinementType.SUBJECT):
            image, notes = await image_lane.run(repairer(request.kind), request, strength)
            return EditResult(image=image, notes=notes)
        raise ProviderError("bad_request", f"Unknown refinement kind {request.kind!r}.")

    async def _prompt(self, request: EditRequest, strength: float) -> EditResult:
        """Apply what the prompt asks, sending a half-strength preview first if asked and the edit takes long."""
        refusal = offline_supports(
            RefinementType.PROMPT, request.prompt, request.instructions, request.rects, request.reference is not None
        )
        if refusal is not None:
            # refineImage refuses these up front; a job that still gets here fails with the same words.
            raise ProviderError("bad_request", refusal)
        plan = parse_prompt(prompt_text(request.prompt, request.instructions))
        if request.on_partial is not None and wants_preview(request, plan):
            preview = await image_lane.run(_preview, request, strength / 2)
            await request.on_partial(preview, 0)
        image, notes = await image_lane.run(edit_prompt, request.image, request.rects, plan, strength)
        return EditResult(image=image, notes=notes)
