"""A tree query's rows are freed when it ends, not left in reference cycles for the garbage collector."""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

from churns_gql.graphql.context import Context
from churns_gql.graphql.schema import build_schema
from tests.test_tree_exec import QUERY, _tree

HELD = ("RefinementRow", "ImageRow", "TreeExecutionContext", "Context", "SubtreeLoaders", "_Plan", "DataLoader")


async def _garbage_of(run: Any) -> Counter[str]:
    """Types of the objects that only a garbage-collector pass would free after `run()`."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await run()
        gc.collect()
        return Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()


async def test_a_tree_querys_rows_are_not_left_to_the_garbage_collector(services, client):
    """Regression (bench P3b): the subtree loaders referred to themselves through their batch functions and
    graphql-core's executor through its helpers, so every row a tree query read (and the request's context)
    lived until the collector's next pass; those passes cost more than a tree query's completion."""
    run_gid = await _tree(services, client)
    schema = build_schema(services.settings)

    async def execute() -> None:
        result = await schema.execute(
            QUERY, variable_values={"id": run_gid, "deep": True}, context_value=Context(services=services)
        )
        assert result.errors is None and result.data["run"]["images"][0]["children"]

    await execute()  # caches (documents, plans' code) filled outside the measure
    left = await _garbage_of(execute)
    assert not {name: left[name] for name in HELD if left[name]}, left.most_common(20)


async def test_over_http_too(services, client):
    """The same through the HTTP app (the direct path to graphql-core)."""
    run_gid = await _tree(services, client)

    async def execute() -> None:
        data = await client.data(QUERY, {"id": run_gid, "deep": True})
        assert data["run"]["images"][0]["children"]

    await execute()
    left = await _garbage_of(execute)
    assert not {name: left[name] for name in HELD if left[name]}, left.most_common(20)
