"""A tree plan's completion as straight-line Python, generated once per shape of selection.

graphql/tree_exec.py completes a tree list by looping over each node's plan entries and dispatching on
their kind; for a 1,000-node tree that loop was most of the completion's time (bench P3b). Here the loop
over entries is unrolled into source once per sequence of kinds (a handful of shapes per schema: response
keys, getters and serializers are the closure's arguments, not part of the source) and compiled; each
request binds its plan's values to it. What each kind does is exactly what the loop did.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from graphql.pyutils import Undefined

PLAIN, REQUIRED, ID, TYPENAME, CHILDREN, LINEAGE, DELEGATE = range(7)

# complete(context, plan, rows, path, pending, first, ids, known_children) -> list of result dicts
Completion = Callable[
    [Any, Any, list[Any], Any, list[Any], int, dict[Any, str], dict[Any, list[Any]]], list[dict[str, Any]]
]


def _delegated(i: int, indent: str) -> list[str]:
    """The field through graphql-core (context.delegate): an error to report, or a field the plan cannot read."""
    return [f"{indent}st = context.delegate(plan, row, index, path, K{i}, D{i}, result, pending, st)"]


def _entry_lines(i: int, kind: int) -> list[str]:
    """Source for one entry of the node's selection, as the loop in tree_exec did it."""
    if kind in (PLAIN, REQUIRED):
        on_null = [f"        result[K{i}] = None"] if kind == PLAIN else _delegated(i, "        ")
        return [
            f"    v = G{i}(row)",
            "    if v is None:",
            *on_null,
            "    else:",
            f"        v = S{i}(v)",
            "        if v is not None and v is not Undefined:",
            f"            result[K{i}] = v",
            "        else:",
            *_delegated(i, "            "),
        ]
    if kind == ID:
        return [
            "    v = ids_get(rid)",
            "    if v is None:",
            # encode_id's bytes (base64 of "Type:uuid"; both ASCII) without its three calls and NewType wrapper.
            "        v = ids[rid] = b2a_base64((PREFIX + str(rid)).encode('ascii'), newline=False).decode('ascii')",
            f"    result[K{i}] = v",
        ]
    if kind == TYPENAME:
        return [f"    result[K{i}] = TYPE"]
    if kind == CHILDREN:
        return [
            "    kids = known_get(rid)",
            "    if kids is not None:",
            # The child plan's completion called directly (what context.complete_list does): only a Refinement
            # plan has CHILDREN entries, so `ids` and `known_children` are already the child plan's.
            f"        result[K{i}] = G{i}.complete(context, G{i}, kids, (path, index, K{i}, TYPE), pending, 0, ids, known_children)",
            "    else:",
            *_delegated(i, "        "),
        ]
    if kind == LINEAGE:
        return [
            f"    v = context.load_lineage(G{i}, rid, OBJECT_TYPE, D{i}, (path, index, K{i}, TYPE))",
            f"    result[K{i}] = v",
            f"    pending.append((result, K{i}, v))",
        ]
    return _delegated(i, "    ")


@lru_cache(maxsize=256)
def _factory(kinds: tuple[int, ...]) -> Callable[..., Completion]:
    """A function that, given a plan's values, returns its completion; compiled once per sequence of kinds."""
    names = ", ".join(f"K{i}, G{i}, S{i}, D{i}" for i in range(len(kinds)))
    body: list[str] = []
    for i, kind in enumerate(kinds):
        body += _entry_lines(i, kind)
    source = "\n".join(
        [
            f"def factory(TYPE, OBJECT_TYPE, {names}):" if kinds else "def factory(TYPE, OBJECT_TYPE):",
            "  PREFIX = TYPE + ':'",
            # The plan is an argument, not a closure variable: the plan holds its completion, and a reference
            # cycle would live until the garbage collector's next pass.
            "  def complete(context, plan, rows, path, pending, first, ids, known_children):",
            "   out = []",
            "   ids_get = ids.get",
            "   known_get = known_children.get",
            "   for index, row in enumerate(rows, first):",
            "    rid = row.id",
            "    result = {}",
            "    st = None",
            *body,
            "    out.append(result)",
            "   return out",
            "  return complete",
        ]
    )
    # Indentation: factory 2, complete 3, the loop's body (and each entry's first level) 4.
    namespace: dict[str, Any] = {"Undefined": Undefined, "b2a_base64": b2a_base64}
    exec(compile(source, f"<tree plan {kinds}>", "exec"), namespace)  # source built above from kinds only
    factory: Callable[..., Completion] = namespace["factory"]
    return factory


def completion(object_type: Any, entries: Sequence[tuple[str, int, Any, Any, Any]]) -> Completion:
    """The completion of a plan's entries (key, kind, getter, serializer, field details) on its object type;
    it is called with the plan."""
    values: list[Any] = []
    for key, _kind, getter, serialize, details in entries:
        values += (key, getter, serialize, details)
    return _factory(tuple(e[1] for e in entries))(object_type.name, object_type, *values)
