"""Static query cost: an estimate of the rows a document can make the server produce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.paging import DEFAULT_PAGE, MAX_PAGE

TOO_COMPLEX = ErrorCode.QUERY_TOO_COMPLEX.value
# A connection without `first` or `last` returns the API's default page; a `$first`/`$last` variable may be the
# maximum. Either one sizes the page, so both count the same (both at once is refused when it runs).
PAGE_SIZE_ARGUMENTS = ("first", "last")
# Lists without paging are bounded by the data (images of a run, stages of a job); assume a few.
LIST_FIELDS = {"images": 10, "stages": 10, "events": 50, "ancestors": 10}
# Fields that cost far more than a column: a COUNT query, a JSON blob of arbitrary size, or a level of a
# version tree. The levels of a tree partition its nodes, so nested `children` add one batched load per
# level rather than multiplying: they are weighted, not multiplied.
FIELD_WEIGHTS = {"totalCount": 10, "metadata": 100, "children": 10}


def field_multiplier(node: FieldNode) -> int:
    """How many times a field's selection runs: its `first` or `last` for connections, an estimate for plain lists."""
    sizes = [
        int(a.value.value) if isinstance(a.value, IntValueNode) else MAX_PAGE
        for a in node.arguments or ()
        if a.name.value in PAGE_SIZE_ARGUMENTS
    ]
    if sizes:
        return max(sizes)
    if node.name.value in ("runs", "refinements"):
        return DEFAULT_PAGE
    return LIST_FIELDS.get(node.name.value, 1)


def selection_cost(
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    """The cost of a selection set: each field's weight plus its children's cost times its multiplier."""
    total = 0
    for node in _fields(selections, fragments, seen):
        children = selection_cost(node.selection_set, fragments, seen) if node.selection_set else 0
        total += FIELD_WEIGHTS.get(node.name.value, 1) + field_multiplier(node) * children
    return total


def _fields(
    selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterator[FieldNode]:
    """The fields of a selection set with fragments inlined (a fragment cycle is left to validation)."""
    for selection in selections.selections if selections else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                yield from _fields(fragment.selection_set, fragments, seen | {name})


def cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose static cost is above `max_cost` (0 = no limit)."""

    class QueryCostRule(ValidationRule):
        """Refuses an operation that could make the server produce more than the allowed rows."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            """Compute the operation's cost and report it when over the limit."""
            if max_cost <= 0:
                return
            document = self.context.document
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            cost = selection_cost(node.selection_set, fragments)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"the query's estimated cost is {cost:,}; the limit is {max_cost:,} "
                        "(ask for smaller pages or fewer aliases)",
                        node,
                        extensions={"code": TOO_COMPLEX},
                    )
                )

    return QueryCostRule
