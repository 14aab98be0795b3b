"""A `children` query reads its whole subtree in one statement, however many levels it nests (bench P3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from churns_gql.graphql.ids import decode_id, encode_id
from churns_gql.models import JobStatus, Refinement, RefinementType
from tests.conftest import import_images, png_bytes


async def _chain_with_twins(services, client, depth: int) -> tuple[str, list[uuid.UUID]]:
    """A run whose image has a chain `depth` long; every chain node also has a leaf twin made before it.

    Returns the run's global id and the chain's refinement ids, top first.
    """
    run = (await import_images(client, [png_bytes(20, 10)]))["run"]
    run_id, image_id = decode_id(run["id"])[1], decode_id(run["images"][0]["id"])[1]
    base = datetime.now(UTC) - timedelta(hours=1)
    chain, rows, parent = [], [], None
    for level in range(depth):
        twin, node = uuid.uuid4(), uuid.uuid4()
        for i, rid in enumerate((twin, node)):
            rows.append(
                dict(
                    id=rid,
                    run_id=run_id,
                    generation_index=0,
                    version=2 * level + i + 2,
                    type=RefinementType.PROMPT,
                    status=JobStatus.COMPLETED,
                    prompt="p",
                    creativity_level=2,
                    depth=level + 1,
                    parent_image_id=image_id if parent is None else None,
                    parent_refinement_id=parent,
                    created_at=base + timedelta(seconds=2 * level + i),
                )
            )
        chain.append(node)
        parent = node
    async with services.db() as session:
        await session.execute(insert(Refinement), rows)
        await session.commit()
    return run["id"], chain


def _nested(levels: int, leaf: str = "id version") -> str:
    inner = leaf
    for _ in range(levels - 1):
        inner = f"{leaf} children {{ {inner} }}"
    return f"children {{ {inner} }}"


async def _statements(client, count_queries, query: str, variables: dict) -> tuple[int, dict]:
    before = count_queries.count
    data = await client.data(query, variables)
    return count_queries.count - before, data


async def test_a_deep_children_query_costs_the_same_statements_as_a_shallow_one(services, client, count_queries):
    """Regression: every `children` level was one more statement (10 levels deep: 10 statements)."""
    run_gid, chain = await _chain_with_twins(services, client, 12)
    costs = {}
    for levels in (2, 5, 11):
        query = "query($id: ID!) { run(id: $id) { images { id " + _nested(levels) + " } } }"
        costs[levels], data = await _statements(client, count_queries, query, {"id": run_gid})
        node, seen = data["run"]["images"][0], 0
        while node.get("children"):
            # oldest first: the leaf twin, then the chain node that goes on
            twin, node = node["children"]
            assert node["id"] == encode_id("Refinement", chain[seen]), (levels, seen)
            assert twin["children"] == [] if "children" in twin else True
            seen += 1
        assert seen == levels
    # run, images, and one recursive query for the subtree, whatever the depth
    assert costs == {2: 3, 5: 3, 11: 3}, costs


async def test_children_below_a_refinement_and_through_fragments_are_one_statement(services, client, count_queries):
    _run_gid, chain = await _chain_with_twins(services, client, 8)
    query = """
    fragment Deeper on Refinement { id children { id children { id children { id version } } } }
    query($id: ID!) { refinement(id: $id) { id children { id ...Deeper } } }
    """
    cost, data = await _statements(client, count_queries, query, {"id": encode_id("Refinement", chain[0])})
    assert cost == 2  # the refinement, then its subtree four levels deep
    node = data["refinement"]
    for depth in range(4):
        assert [c["id"] for c in node["children"]][1] == encode_id("Refinement", chain[depth + 1])
        node = node["children"][1]
    assert node["version"] == 2 * 4 + 1 + 2  # chain[4]: the twin before it at its level, after 4 levels of two


async def test_a_level_beyond_what_was_read_ahead_is_still_answered(services, client):
    """Children asked below the levels a first field read ahead come from the database, not an empty cache."""
    _run_gid, chain = await _chain_with_twins(services, client, 6)
    query = """query($a: ID!, $b: ID!) {
      a: refinement(id: $a) { children { id } }
      b: refinement(id: $b) { children { id children { id } } }
    }"""
    data = await client.data(query, {"a": encode_id("Refinement", chain[0]), "b": encode_id("Refinement", chain[1])})
    assert [c["id"] for c in data["b"]["children"]][1] == encode_id("Refinement", chain[2])
    assert [c["id"] for c in data["b"]["children"][1]["children"]][1] == encode_id("Refinement", chain[3])


LINEAGE = "ancestors { __typename id version url ... on Refinement { status prompt } }"


async def test_ancestors_inside_a_tree_read_from_the_originals_need_no_statement(services, client, count_queries):
    """Regression (bench P3b): `ancestors` of tree nodes was one more dependent statement, though the tree
    read from the originals down already held every ancestor."""
    run_gid, chain = await _chain_with_twins(services, client, 6)
    query = "query($id: ID!) { run(id: $id) { images { id " + _nested(5, f"id version {LINEAGE}") + " } } }"
    cost, data = await _statements(client, count_queries, query, {"id": run_gid})
    assert cost == 3  # run, images, the subtree; no lineage statement
    answered, node = 0, data["run"]["images"][0]
    while node.get("children"):
        for child in node["children"]:
            # the same lineage as read by the recursive query (the refinement alone: nothing known before it)
            alone = await client.data(
                "query($id: ID!) { refinement(id: $id) { " + LINEAGE + " } }", {"id": child["id"]}
            )
            assert child["ancestors"] == alone["refinement"]["ancestors"]
            answered += 1
        node = node["children"][1]
    assert answered == 10 and len(node["ancestors"]) == 5  # the image and four refinements above the fifth level


async def test_ancestors_reaching_above_a_subtree_are_read_from_the_database(services, client, count_queries):
    """A tree read from a refinement does not hold that refinement's own ancestors: they are read as before."""
    _run_gid, chain = await _chain_with_twins(services, client, 4)
    query = "query($id: ID!) { refinement(id: $id) { children { id " + LINEAGE + " } } }"
    cost, data = await _statements(client, count_queries, query, {"id": encode_id("Refinement", chain[1])})
    assert cost == 3  # the refinement, its children, their lineages
    assert [a["version"] for a in data["refinement"]["children"][1]["ancestors"]] == [1, 3, 5]


async def test_a_runs_originals_and_their_subtrees_are_read_at_once(services, client, clean_db, monkeypatch):
    """Regression (bench P3b): the subtree statement waited for the originals' statement to come back first."""
    import asyncio

    from sqlalchemy import event

    from churns_gql.services import runs as run_service

    run_gid, chain = await _chain_with_twins(services, client, 3)
    seen: list[tuple[str, str]] = []
    read_originals = run_service.images_by_run_ids

    async def slow_originals(session, run_ids):
        await asyncio.sleep(0.3)  # a slow read of the originals: the subtree need not wait for it
        return await read_originals(session, run_ids)

    def name(statement: str) -> str:
        first, second = statement.split()[:2]
        return first + (" images" if second.startswith("images.") else "")

    def started(_conn, _cursor, statement, *_args):
        seen.append(("start", name(statement)))

    def finished(_conn, _cursor, statement, *_args):
        seen.append(("end", name(statement)))

    monkeypatch.setattr(run_service, "images_by_run_ids", slow_originals)
    event.listen(clean_db.sync_engine, "before_cursor_execute", started)
    event.listen(clean_db.sync_engine, "after_cursor_execute", finished)
    try:
        data = await client.data(
            "query($id: ID!) { run(id: $id) { images { id " + _nested(3) + " } } }", {"id": run_gid}
        )
    finally:
        event.remove(clean_db.sync_engine, "before_cursor_execute", started)
        event.remove(clean_db.sync_engine, "after_cursor_execute", finished)
    assert seen.index(("end", "WITH")) < seen.index(("end", "SELECT images")), seen
    assert len(seen) == 6, seen
    node = data["run"]["images"][0]
    for level in range(3):
        node = node["children"][1]
        assert node["id"] == encode_id("Refinement", chain[level])


async def test_originals_without_refinements_answer_empty_children_without_another_read(
    services, client, count_queries
):
    run = (await import_images(client, [png_bytes(20, 10), png_bytes(20, 10)]))["run"]
    cost, data = await _statements(
        client, count_queries, "query($id: ID!) { run(id: $id) { images { " + _nested(2) + " } } }", {"id": run["id"]}
    )
    assert data["run"]["images"] == [{"children": []}, {"children": []}]
    assert cost == 3  # the run, its originals and their (empty) subtrees
