"""How many `children` levels a field's selection nests, so a version subtree can be read in one query."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types.nodes import SelectedField, Selection

from churns_gql.graphql.context import Info

TREE_FIELD = "children"


def children_depth(info: Info) -> int:
    """Nested `children` levels from this field down (1 = only its own children), fragments followed.

    Fields turned off by @skip/@include are counted too: reading a level more than executes costs rows, not answers.
    """
    return max((1 + _below(field.selections) for field in info.selected_fields), default=1)


def children_depth_below(info: Info) -> int:
    """Nested `children` levels inside this field's selection (0: none), fragments followed, @skip/@include not."""
    return max((_below(field.selections) for field in info.selected_fields), default=0)


def _below(selections: Sequence[Selection]) -> int:
    """The deepest chain of `children` fields inside a selection set (fragments are already inlined)."""
    deepest = 0
    for selection in selections:
        nested = _below(selection.selections)
        if isinstance(selection, SelectedField) and selection.name == TREE_FIELD:
            nested += 1
        deepest = max(deepest, nested)
    return deepest
