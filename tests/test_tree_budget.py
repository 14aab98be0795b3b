"""A tree query loads a bounded number of refinement rows: past the budget it fails with a code, not by loading all."""

from __future__ import annotations

import uuid

from sqlalchemy import event, insert

from churns_gql.graphql import loaders
from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement, RefinementType
from tests.conftest import import_images, png_bytes

LEVELS = "children { id " * 6 + "}" * 6
TREE = "query($id: ID!) { run(id: $id) { images { id " + LEVELS + " } } }"
ANCESTORS = "query($id: ID!) { run(id: $id) { images { children { children { children { id ancestors { id } } } } } } }"


async def _four_ary_tree(services, client, count: int) -> str:
    """A run whose image has `count` refinements, refinement i under refinement i // 4; returns the run's id."""
    run = (await import_images(client, [png_bytes(20, 10)]))["run"]
    run_id, image_id = decode_id(run["id"])[1], decode_id(run["images"][0]["id"])[1]
    ids = [uuid.uuid4() for _ in range(count + 1)]
    rows = [
        dict(
            id=ids[i],
            run_id=run_id,
            generation_index=0,
            version=i + 1,
            type=RefinementType.PROMPT,
            status=JobStatus.COMPLETED,
            prompt="p",
            creativity_level=2,
            width=10,
            height=10,
            parent_image_id=image_id if i < 4 else None,
            parent_refinement_id=ids[i // 4] if i >= 4 else None,
        )
        for i in range(1, count + 1)
    ]
    async with services.db() as session:
        await session.execute(insert(Refinement), rows)
        await session.commit()
    return run["id"]


def _count_refinement_rows(engine):
    """Refinement rows the database hands the API, counted at the cursor."""
    seen = [0]

    def after(conn, cursor, statement, parameters, context, executemany):
        if "FROM refinements" in statement:
            seen[0] += cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 else 0

    event.listen(engine.sync_engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine.sync_engine, "after_cursor_execute", after)


async def test_a_huge_tree_fails_with_a_code_after_loading_at_most_the_budget(services, client, clean_db, monkeypatch):
    """Regression (bench P8a): a `children` query over a big tree loaded every row (100,000 ran out of memory)."""
    monkeypatch.setattr(loaders, "MAX_TREE_ROWS", 100)
    run_gid = await _four_ary_tree(services, client, 1200)
    seen, stop = _count_refinement_rows(clean_db)
    try:
        body = await client.execute(TREE, {"id": run_gid})
    finally:
        stop()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    assert "more than 100 refinements" in body["errors"][0]["message"]
    # Each batch asks for no more than what is left (+1): well under the 1,200 in the tree.
    assert 100 < seen[0] <= 100 + 6, seen[0]


async def test_a_tree_within_the_budget_is_returned_whole(services, client, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_TREE_ROWS", 100)
    run_gid = await _four_ary_tree(services, client, 100)  # exactly at the budget
    body = await client.execute(TREE, {"id": run_gid})
    assert "errors" not in body, body
    stack, total = list(body["data"]["run"]["images"][0]["children"]), 0
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node["children"])
    assert total == 100


async def test_ancestors_count_against_the_budget(services, client, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_TREE_ROWS", 100)
    # 3 + 12 + 48 nodes on the three levels asked (63 rows), then 48 lineages of 3 rows each: over 100.
    run_gid = await _four_ary_tree(services, client, 84)
    body = await client.execute(ANCESTORS, {"id": run_gid})
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    monkeypatch.setattr(loaders, "MAX_TREE_ROWS", 10_000)
    body = await client.execute(ANCESTORS, {"id": run_gid})
    assert "errors" not in body, body
    deepest = body["data"]["run"]["images"][0]["children"][0]["children"][0]["children"][0]
    assert len(deepest["ancestors"]) == 3  # the image, then two refinements
