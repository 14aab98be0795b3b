"""What an image provider offers the pipeline: edit requests, results, usage and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from PIL import Image
from pydantic import BaseModel

from churns_gql.concepts import Concept
from churns_gql.geometry import Rect
from churns_gql.refinement_types import RefinementType

# One rectangle type and one refinement-type enum, defined outside the providers so the API can use them.
__all__ = ["Rect", "RefinementType"]

AnswerT = TypeVar("AnswerT", bound=BaseModel)

ErrorKind = Literal["rate_limit", "content_policy", "auth", "timeout", "bad_request", "unavailable"]


@dataclass
class Usage:
    """Tokens one provider call consumed, as the provider reported them."""

    model: str
    text_input_tokens: int = 0
    # Text input the API served from its prompt cache (billed at the cached_input rate).
    cached_input_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    text_output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            model=self.model,
            text_input_tokens=self.text_input_tokens + other.text_input_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            image_input_tokens=self.image_input_tokens + other.image_input_tokens,
            image_output_tokens=self.image_output_tokens + other.image_output_tokens,
            text_output_tokens=self.text_output_tokens + other.text_output_tokens,
        )


PartialCallback = Callable[[Image.Image, int], Awaitable[None]]


@dataclass
class EditRequest:
    """One refinement edit: the base image and everything the user asked for."""

    kind: RefinementType
    image: Image.Image
    prompt: str | None = None
    instructions: str | None = None
    rects: list[Rect] = field(default_factory=list)
    creativity: int = 2
    reference: Image.Image | None = None
    # What the run meant this image to show, from its pipeline_metadata.json.
    concept: Concept = field(default_factory=lambda: Concept())
    # Called with each partial image the provider streams, and its index from 0.
    on_partial: PartialCallback | None = None

    def __post_init__(self) -> None:
        # A caller may name the kind by its string value; providers compare against the enum.
        self.kind = RefinementType(self.kind)


@dataclass
class EditResult:
    """The edited image at the base image's exact size, what it cost and what was done."""

    image: Image.Image
    usage: Usage | None = None
    # None when the provider reported no usage: the call was billed, but for an unknown amount.
    cost_usd: float | None = 0.0
    # Human-readable account of what the provider did, e.g. "warmer, brighter; ignored: sparkly".
    notes: str = ""


class ProviderError(Exception):
    """A provider call failed in a way the user can act on; `message` is safe to show."""

    def __init__(
        self, kind: ErrorKind, message: str, *, spent_usd: float | None = 0.0, code: str | None = None
    ) -> None:
        """`spent_usd` is what the failed attempt(s) cost (None: unknown, maybe billed); `code` a stable error code."""
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.spent_usd = spent_usd
        self.code = code


class ImageEditor(Protocol):
    """Edits an image for a refinement."""

    name: str

    async def edit(self, request: EditRequest) -> EditResult:
        """Apply the request and return the result at the base image's size."""
        ...


# -- generation: a text model for the structured stages and an image generator -------------------


@dataclass
class StructuredRequest(Generic[AnswerT]):
    """One structured-output question of a generation stage: instructions, inputs and the answer's model."""

    # The pydantic model of the answer (providers/generation_answers.py): its stage, schema name and schema.
    answer: type[AnswerT]
    instructions: str
    # What the stage knows, sent to the model as JSON; the offline model derives its answer from it.
    payload: dict[str, Any]
    # Images the model should look at (the reference to describe, a result to assess).
    images: list[Image.Image] = field(default_factory=list)

    @property
    def stage(self) -> str:
        """The stage asking."""
        return str(getattr(self.answer, "stage", ""))

    @property
    def schema_name(self) -> str:
        """The name of the answer's json_schema response format."""
        return str(getattr(self.answer, "schema_name", ""))


@dataclass
class StructuredResult:
    """A model's answer (JSON text, or an instance of the answer model), what it used and cost; checked by the caller."""

    value: Any
    usage: Usage | None = None
    # None when the provider reported no usage: billed, for an unknown amount.
    cost_usd: float | None = 0.0


class TextModel(Protocol):
    """Answers a stage's question with JSON in the stage's schema."""

    name: str

    async def structured(self, request: StructuredRequest[Any]) -> StructuredResult:
        """The model's answer to `request`."""
        ...


@dataclass
class ImageRequest:
    """One original to generate at exactly width×height, from its final prompt and visual concept."""

    prompt: str
    width: int
    height: int
    # The visual concept of creative_expert (main_subject, color_palette, promotional_text_visuals...).
    concept: dict[str, Any] = field(default_factory=dict)
    # With a reference the image is an edit of it (images.edit), else generated from scratch.
    reference: Image.Image | None = None


@dataclass
class GeneratedImage:
    """A generated original at the requested size, what it cost and what was done."""

    image: Image.Image
    usage: Usage | None = None
    # None when the provider reported no usage: billed, for an unknown amount.
    cost_usd: float | None = 0.0
    notes: str = ""


class ImageGenerator(Protocol):
    """Makes the originals of a run."""

    name: str

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """The image for `request`, at exactly request.width × request.height."""
        ...


class GenerationProvider(TextModel, ImageGenerator, Protocol):
    """Everything the generation pipeline asks of a provider: structured answers and images."""
