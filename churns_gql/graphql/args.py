"""Described argument types shared by the resolvers (every argument of the schema carries a description), and
input types built from their GraphQL values without Strawberry's per-request type walk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Annotated, Any, Optional, TypeVar

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryMaybe, StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

T = TypeVar("T")

First = Annotated[
    Optional[int],
    strawberry.argument(description="Page forward: the first n items (0..100; default 20). Not with `last`."),
]
After = Annotated[
    Optional[str],
    strawberry.argument(description="Return the items after this cursor (a previous page's pageInfo.endCursor)."),
]
Last = Annotated[
    Optional[int],
    strawberry.argument(
        description="Page backward: the last n items (0..100; default 20 when only `before` is given). Not with `first`."
    ),
]
Before = Annotated[
    Optional[str],
    strawberry.argument(description="Return the items before this cursor (a later page's pageInfo.startCursor)."),
]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="A global id, as an `id` field returned it.")]
EventsAfter = Annotated[
    Optional[int], strawberry.argument(description="Only events with a sequence number above this one.")
]


_Convert = Callable[[Any, InputContext, str], Any]


def _field_plan(
    definition: StrawberryObjectDefinition, context: InputContext
) -> list[tuple[str, str, _Convert | None]]:
    """(GraphQL name, Python name, converter) per field; None where Strawberry hands the value on unchanged."""
    plan: list[tuple[str, str, _Convert | None]] = []
    for field in definition.fields:
        type_ = field.resolve_type(type_definition=definition)
        # A Maybe (which wraps even a null) is left to Strawberry, like lists and nested inputs.
        inner = type_.of_type if type(type_) is StrawberryOptional else type_
        # Scalars (other than GlobalID, which Strawberry decodes) and enums pass as graphql-core coerced them.
        leaf = isinstance(inner, StrawberryEnumDefinition) or has_enum_definition(inner)
        leaf = leaf or (inner is not GlobalID and is_scalar(inner, context.scalar_registry))
        if isinstance(type_, StrawberryMaybe):
            raise TypeError(f"{definition.name}.{field.python_name}: Maybe fields are converted by Strawberry")
        convert: _Convert | None = None
        if not leaf:

            def convert(value: Any, ctx: InputContext, name: str, type_: Any = type_) -> Any:
                """Strawberry's own conversion, for lists and nested inputs."""
                return ctx.convert(value, type_, name)

        plan.append((context.config.name_converter.from_field(field), field.python_name, convert))
    return plan


def prebuilt_input(cls: type[T]) -> type[T]:
    """Build the input `cls` from its GraphQL value with each field's conversion worked out once.

    Strawberry's generic conversion resolved every field's type and tested it against the scalar
    registry on every request (a third of refineImage's argument handling); this does the same
    conversion through Strawberry's `from_input` hook, planned on first use. Like Strawberry, a field
    without a default starts as None and one the client omitted keeps its Python default.
    """
    definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    nulls = {
        f.python_name: None for f in definition.fields if f.default_value is MISSING and f.default_factory is MISSING
    }
    plans: list[list[tuple[str, str, _Convert | None]]] = []

    def from_input(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
        """The instance of `type_` for one input value."""
        if not plans:
            plans.append(_field_plan(definition, context))
        kwargs = dict(nulls)
        for graphql_name, python_name, convert in plans[0]:
            if graphql_name in value:
                item = value[graphql_name]
                kwargs[python_name] = item if convert is None or item is None else convert(item, context, graphql_name)
        return type_(**kwargs)

    definition.from_input = from_input
    return cls
