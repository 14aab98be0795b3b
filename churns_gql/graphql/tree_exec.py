"""Version trees completed without graphql-core's per-field machinery once their rows are in hand.

graphql-core builds a resolve info, calls a resolver, and completes a value for every field of every
node: for a 1,000-node tree that was most of a request (bench P3b). `children` and `ancestors` lists are
completed here instead: a plan per (type, selection) says, for each response key, how to get the value
from a node. Nodes stay the rows the loaders read: plain columns are read from them and serialized directly
(graphql/row_fields.py), `children` recurse; only for any other field (`parent`, `stages`, `mask`...) is the
node's Strawberry object built and the field handed to graphql-core's own `execute_field`, so its
resolver, errors and null handling are exactly the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    ExecutionResult,
    GraphQLEnumType,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    OperationType,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema_converter import GraphQLCoreConverter

from churns_gql.graphql.fanout import FanoutExecutionContext
from churns_gql.graphql.plan_code import CHILDREN, DELEGATE, ID, LINEAGE, PLAIN, REQUIRED, TYPENAME, completion
from churns_gql.graphql.row_fields import object_maker, row_getter
from churns_gql.graphql.types import Image, Refinement

TREE_FIELD = "children"
LINEAGE_FIELD = "ancestors"
PARENT_TYPES = frozenset({"Image", "Refinement"})


Pending = list[tuple[dict[str, Any], str, Any]]
_LazyPath = tuple[Any, int, str, str]
"""A list's path not built yet: (the parent list's path, the parent's index, the field's key, the parent's type).

Paths are needed only for errors and fields graphql-core completes; building two per node cost more than
reading the node's plain fields."""


def _real(path: Path | _LazyPath) -> Path:
    """The graphql-core Path a lazy path stands for."""
    if isinstance(path, Path):
        return path
    parent, index, key, type_name = path
    return _real(parent).add_key(index, None).add_key(key, type_name)


class _Plan:
    """How to complete one node (a row) of a selection: (response key, kind, getter, serializer, field details) each."""

    __slots__ = ("complete", "depth", "entries", "make", "object_type")

    def __init__(
        self, object_type: GraphQLObjectType, entries: list[tuple[str, int, Any, Any, Any]], make: Callable[[Any], Any]
    ) -> None:
        self.object_type = object_type
        self.entries = entries
        # The node's Strawberry object, built only for a field graphql-core completes.
        self.make = make
        # `children` levels from here down: how far the subtree loader reads ahead.
        self.depth = 1 + max((e[2].depth for e in entries if e[1] == CHILDREN), default=0)
        # The rows' completion, set once the plan exists (graphql/plan_code.py).
        self.complete: Any = None


def _non_null_list_of(field_type: GraphQLOutputType, item: str) -> bool:
    """[item!]!: every level non-null, so an error inside propagates exactly as graphql-core would."""
    if not is_non_null_type(field_type):
        return False
    inner = field_type.of_type
    return is_list_type(inner) and is_non_null_type(inner.of_type) and inner.of_type.of_type.name == item


class TreeExecutionContext(FanoutExecutionContext):
    """The API's execution context: `children` and `ancestors` lists are completed by a plan."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[str, int], tuple[Any, _Plan | None]] = {}
        # Global ids by type and raw id: every lineage repeats the ids of the ancestors it shares.
        self._ids: dict[str, dict[Any, str]] = {"Image": {}, "Refinement": {}}

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's response; once an operation's one result is built, its executor lets go of itself.

        graphql-core's executor refers to itself (its async helpers are its own bound methods), so it, the
        request's context and every row its loaders read lived until the garbage collector's next pass, and
        that pass (every few tree queries) cost more than a tree query's completion (bench P3b). A result
        with more to come (@defer, @stream) or a subscription's executor keeps its helpers.
        """
        result = super().build_response(data)
        if isinstance(result, ExecutionResult) and self.operation.operation is not OperationType.SUBSCRIPTION:
            self.async_helpers = None  # type: ignore[assignment]  # nothing runs on this executor any more
        return result

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Path, position_context: Any
    ) -> Any:
        """A tree list through its plan; every other field as graphql-core does it."""
        if position_context is None and parent_type.name in PARENT_TYPES:
            name = field_details_list[0].node.name.value
            if name == TREE_FIELD:
                plan = self._children_plan(parent_type, field_details_list)
                if plan is not None:
                    rows = self._cached_children(source)
                    if rows is not None:
                        return self._complete_field([(plan, rows)], parent_type, field_details_list, path)
                    return self._load_children(plan, source, parent_type, field_details_list, path)
            elif name == LINEAGE_FIELD and parent_type.name == "Refinement":
                plans = self._lineage_plans(parent_type, field_details_list)
                if plans is not None:
                    return self.load_lineage(plans, source.raw_id, parent_type, field_details_list, path)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _cached_children(self, source: Any) -> list[Any] | None:
        """The source's children rows when they are already loaded, else None."""
        children = self.context_value.loaders.children
        found: list[Any] | None = None
        if isinstance(source, Refinement):
            found = children.cached(children.by_refinement, source.raw_id)
        elif isinstance(source, Image):
            found = children.cached(children.by_image, source.raw_id)
        return found

    async def _load_children(
        self, plan: _Plan, source: Any, parent_type: GraphQLObjectType, field_details_list: Any, path: Path
    ) -> Any:
        """Read the children (and as many levels below as the plan nests), then complete them by the plan."""
        children = self.context_value.loaders.children
        loader = children.by_image if parent_type.name == "Image" else children.by_refinement
        try:
            rows = await children.load(loader, source.raw_id, plan.depth)
        except Exception as raw_error:
            self.handle_field_error(raw_error, parent_type.fields[TREE_FIELD].type, field_details_list, path)
            return None
        completed = self._complete_field([(plan, rows)], parent_type, field_details_list, path)
        return await completed if self.is_awaitable(completed) else completed

    async def load_lineage(
        self,
        plans: tuple[_Plan, _Plan],
        raw_id: Any,
        parent_type: GraphQLObjectType,
        field_details_list: Any,
        path: Path | _LazyPath,
    ) -> Any:
        """Read the lineage (batched with the other nodes'), then complete the original and each refinement."""
        try:
            root, chain = await self.context_value.loaders.lineage_by_refinement.load(raw_id)
        except Exception as raw_error:
            self.handle_field_error(raw_error, parent_type.fields[LINEAGE_FIELD].type, field_details_list, _real(path))
            return None
        completed = self._complete_field([(plans[0], [root]), (plans[1], chain)], parent_type, field_details_list, path)
        return await completed if self.is_awaitable(completed) else completed

    def _complete_field(
        self,
        parts: list[tuple[_Plan, list[Any]]],
        parent_type: GraphQLObjectType,
        field_details_list: Any,
        path: Path | _LazyPath,
    ) -> Any:
        """The completed list of each part's rows by its plan, or an awaitable of it; errors handled as
        graphql-core's execute_field does."""
        return_type = parent_type.fields[field_details_list[0].node.name.value].type
        pending: Pending = []
        try:
            completed: list[dict[str, Any]] = []
            for plan, rows in parts:
                completed += self.complete_list(plan, rows, path, pending, len(completed))
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, _real(path))
            return None
        if not pending:
            return completed

        async def finish() -> Any:
            try:
                values = await gather_with_cancel(*(awaitable for _, _, awaitable in pending))
            except Exception as raw_error:
                self.handle_field_error(raw_error, return_type, field_details_list, _real(path))
                return None
            for (target, key, _), value in zip(pending, values, strict=True):
                target[key] = value
            return completed

        return finish()

    def complete_list(
        self, plan: _Plan, rows: list[Any], path: Path | _LazyPath, pending: Pending, first: int = 0
    ) -> list[dict[str, Any]]:
        """Each row completed by the plan's generated code (graphql/plan_code.py)."""
        ids = self._ids[plan.object_type.name]
        known = self.context_value.loaders.children.of_refinements
        completed: list[dict[str, Any]] = plan.complete(self, plan, rows, path, pending, first, ids, known)
        return completed

    def delegate(
        self,
        plan: _Plan,
        row: Any,
        index: int,
        path: Path | _LazyPath,
        key: str,
        details: Any,
        result: dict[str, Any],
        pending: Pending,
        state: tuple[Path, Any] | None,
    ) -> tuple[Path, Any]:
        """A field of a node through execute_field on the node's object (a tree list by its plan, the rest
        graphql-core's own way): anything the plan does not read, or a plain value that must be reported as
        an error. The node's path and object are built once per node (`state`)."""
        if state is None:
            state = (_real(path).add_key(index, None), plan.make(row))
        item_path, node = state
        value = self.execute_field(plan.object_type, node, details, item_path.add_key(key, plan.object_type.name), None)
        if value is not Undefined:
            result[key] = value
            if self.is_awaitable(value):
                pending.append((result, key, value))
        return state

    def _object_type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        assert isinstance(found, GraphQLObjectType)
        return found

    def _children_plan(self, parent_type: GraphQLObjectType, field_details_list: Any) -> _Plan | None:
        """The plan of a `children` field's items, when the field is [Refinement!]!."""
        if not _non_null_list_of(parent_type.fields[TREE_FIELD].type, "Refinement"):
            return None
        return self._plan(self._object_type("Refinement"), field_details_list)

    def _lineage_plans(self, parent_type: GraphQLObjectType, field_details_list: Any) -> tuple[_Plan, _Plan] | None:
        """Plans of an `ancestors` field's original and refinements, when the field is [ImageVersion!]!."""
        if not _non_null_list_of(parent_type.fields[LINEAGE_FIELD].type, "ImageVersion"):
            return None
        image = self._plan(self._object_type("Image"), field_details_list)
        refinement = self._plan(self._object_type("Refinement"), field_details_list)
        return (image, refinement) if image is not None and refinement is not None else None

    def _plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> _Plan | None:
        """The plan of one selection on one type (memoized per field group, as graphql-core's subfields are)."""
        key = (object_type.name, id(field_details_list))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        plan = self._build_plan(object_type, field_details_list)
        self._plans[key] = (field_details_list, plan)
        return plan

    def _build_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> _Plan | None:
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        storage = self.context_value.storage
        entries: list[tuple[str, int, Any, Any, Any]] = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            field_def = object_type.fields.get(name)
            if name == "__typename":
                entries.append((key, TYPENAME, None, None, details))
            elif field_def is None:
                entries.append((key, DELEGATE, None, None, details))
            elif name == "id":
                entries.append((key, ID, None, None, details))
            elif name == TREE_FIELD and object_type.name == "Refinement":
                plan = self._children_plan(object_type, details)
                entries.append((key, CHILDREN, plan, None, details) if plan else (key, DELEGATE, None, None, details))
            elif name == LINEAGE_FIELD and object_type.name == "Refinement":
                plans = self._lineage_plans(object_type, details)
                entries.append((key, LINEAGE, plans, None, details) if plans else (key, DELEGATE, None, None, details))
            else:
                entries.append(_plain_or_delegate(key, field_def, details, object_type.name, storage))
        plan = _Plan(object_type, entries, object_maker(object_type.name, storage))
        plan.complete = completion(object_type, entries)
        return plan


def _plain_or_delegate(
    key: str, field_def: Any, details: Any, type_name: str, storage: Any
) -> tuple[str, int, Any, Any, Any]:
    """A value read straight from the row when the field has no resolver, arguments or extensions."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    leaf = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
    if (
        definition is None
        or definition.base_resolver is not None
        or definition.arguments
        or definition.extensions
        or field_def.args
        or not is_leaf_type(leaf)
        or details[0].node.arguments
    ):
        return (key, DELEGATE, None, None, details)
    # A null or unserializable value goes to graphql-core, which reports it as it always has.
    getter = row_getter(type_name, definition.python_name, storage)
    if getter is None:
        return (key, DELEGATE, None, None, details)
    kind = REQUIRED if isinstance(field_def.type, GraphQLNonNull) else PLAIN
    return (key, kind, getter, _serializer(leaf), details)


def _serializer(leaf: Any) -> Any:
    """The leaf's output coercion, with its common cases answered without the call chain.

    A str is a String as it is, an int in range an Int as it is (what graphql-core's coercions return);
    an enum value's name is remembered once coerced. Anything else goes through the type's own coercion.
    """
    coerce = leaf.coerce_output_value
    if leaf is GraphQLString:
        return lambda value: value if type(value) is str else coerce(value)
    if leaf is GraphQLInt:
        return lambda value: (
            value if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT else coerce(value)
        )
    if isinstance(leaf, GraphQLEnumType):
        names: dict[Any, Any] = {}

        def enum_name(value: Any) -> Any:
            name = names.get(value)
            if name is None:
                name = names[value] = coerce(value)
            return name

        return enum_name
    return coerce
