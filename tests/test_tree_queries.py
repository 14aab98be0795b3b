"""The version tree over GraphQL: children, parent, ancestors, node refetch, and the SQL it costs."""

from __future__ import annotations

import uuid

from churns_gql.graphql.ids import encode_id
from churns_gql.models import JobStatus, Refinement, RefinementType
from tests.conftest import import_images, png_bytes


async def _add_refinement(services, run_id, parent, *, version, generation_index=0, status=JobStatus.COMPLETED):
    """Insert a refinement row under an Image (uuid from the images table) or a Refinement."""
    ref = Refinement(
        id=uuid.uuid4(),
        run_id=run_id,
        generation_index=generation_index,
        version=version,
        type=RefinementType.PROMPT,
        status=status,
        prompt=f"v{version}",
        creativity_level=2,
        image_path=None,
        width=10,
        height=10,
        parent_image_id=parent if version == 2 else None,
        parent_refinement_id=parent if version > 2 else None,
    )
    async with services.db() as session:
        session.add(ref)
        await session.commit()
    return ref


async def _imported_run(client, n=1):
    payload = await import_images(client, [png_bytes(20, 10) for _ in range(n)])
    run = payload["run"]
    from churns_gql.graphql.ids import decode_id

    return decode_id(run["id"])[1], [decode_id(i["id"])[1] for i in run["images"]], run


TREE = """
query Tree($id: ID!) {
  run(id: $id) {
    images { id children { id version children { id version children { id version parent { id version } } } } }
  }
}
"""


async def _tree_cost(client, count_queries, run_gid) -> int:
    before = count_queries.count
    await client.data(TREE, {"id": run_gid})
    return count_queries.count - before


async def test_tree_costs_one_query_per_level_whatever_the_size(client, services, count_queries):
    small_run, (small_img,), small = await _imported_run(client)
    a = await _add_refinement(services, small_run, small_img, version=2)
    b = await _add_refinement(services, small_run, a.id, version=3)
    await _add_refinement(services, small_run, b.id, version=4)

    big_run, big_imgs, big = await _imported_run(client, n=5)
    for img in big_imgs:
        for _ in range(2):
            level2 = await _add_refinement(services, big_run, img, version=2)
            for _ in range(2):
                level3 = await _add_refinement(services, big_run, level2.id, version=3)
                await _add_refinement(services, big_run, level3.id, version=4)
    # 5 images × (2 + 4 + 4) = 50 refinements in the big tree, 3 in the small one.
    small_cost = await _tree_cost(client, count_queries, small["id"])
    big_cost = await _tree_cost(client, count_queries, big["id"])
    assert small_cost == big_cost
    # run, images, the 3 levels of children in one recursive query, parents of level 4.
    assert big_cost == 4


async def test_chain_ancestors_parent_and_versions(client, services):
    run_id, (img,), run = await _imported_run(client)
    a1 = await _add_refinement(services, run_id, img, version=2)
    a2 = await _add_refinement(services, run_id, a1.id, version=3)
    a3 = await _add_refinement(services, run_id, img, version=2)
    data = await client.data(
        """query($id: ID!) { refinement(id: $id) {
             version generationIndex
             parent { __typename id version }
             ancestors { __typename id version }
             run { id }
           } }""",
        {"id": encode_id("Refinement", a2.id)},
    )
    ref = data["refinement"]
    assert ref["version"] == 3
    assert ref["parent"] == {"__typename": "Refinement", "id": encode_id("Refinement", a1.id), "version": 2}
    assert [(a["__typename"], a["version"]) for a in ref["ancestors"]] == [("Image", 1), ("Refinement", 2)]
    assert ref["ancestors"][0]["id"] == encode_id("Image", img)
    assert ref["run"]["id"] == run["id"]
    children = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Image { children { id } } } }", {"id": encode_id("Image", img)}
    )
    assert [c["id"] for c in children["node"]["children"]] == [
        encode_id("Refinement", a1.id),
        encode_id("Refinement", a3.id),
    ]


async def test_ancestors_of_a_deep_chain_use_one_recursive_query(client, services, count_queries):
    run_id, (img,), _ = await _imported_run(client)
    parent, chain = img, []
    for version in range(2, 32):
        ref = await _add_refinement(services, run_id, parent, version=version)
        chain.append(ref)
        parent = ref.id
    before = count_queries.count
    data = await client.data(
        "query($id: ID!) { refinement(id: $id) { ancestors { id version } } }",
        {"id": encode_id("Refinement", chain[-1].id)},
    )
    assert [a["version"] for a in data["refinement"]["ancestors"]] == list(range(1, 31))
    # the refinement itself, then one recursive CTE that brings the root image along
    assert count_queries.count - before == 2


async def test_node_refetches_every_type_and_rejects_junk(client, services):
    run_id, (img,), run = await _imported_run(client)
    ref = await _add_refinement(services, run_id, img, version=2, status=JobStatus.QUEUED)
    for gid, typename in [
        (run["id"], "Run"),
        (encode_id("Image", img), "Image"),
        (encode_id("Refinement", ref.id), "Refinement"),
    ]:
        data = await client.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid})
        assert data["node"] == {"__typename": typename, "id": gid}
    for junk in ["nope", encode_id("Run", uuid.uuid4()), encode_id("Other", run_id), encode_id("Image", run_id)]:
        data = await client.data("query($id: ID!) { node(id: $id) { id } }", {"id": junk})
        assert data["node"] is None
    # A refinement that has not completed has no URL yet.
    data = await client.data(
        "query($id: ID!) { refinement(id: $id) { url status } }", {"id": encode_id("Refinement", ref.id)}
    )
    assert data["refinement"] == {"url": None, "status": "QUEUED"}
    # `run` only answers for run ids.
    data = await client.data("query($id: ID!) { run(id: $id) { id } }", {"id": encode_id("Image", img)})
    assert data["run"] is None


async def test_runs_connection_pages_newest_first_and_filters(client, services):
    gids = [(await _imported_run(client))[2]["id"] for _ in range(5)]
    query = """query($first: Int, $after: String, $status: JobStatus) {
      runs(first: $first, after: $after, status: $status) {
        totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
    page1 = (await client.data(query, {"first": 2}))["runs"]
    assert page1["totalCount"] == 5
    assert [e["node"]["id"] for e in page1["edges"]] == gids[::-1][:2]
    assert page1["pageInfo"]["hasNextPage"] and not page1["pageInfo"]["hasPreviousPage"]
    page2 = (await client.data(query, {"first": 10, "after": page1["pageInfo"]["endCursor"]}))["runs"]
    assert [e["node"]["id"] for e in page2["edges"]] == gids[::-1][2:]
    assert not page2["pageInfo"]["hasNextPage"]
    failed = (await client.data(query, {"status": "FAILED"}))["runs"]
    assert failed["totalCount"] == 0 and failed["edges"] == []
    body = await client.execute(query, {"after": "garbage"})
    assert body["errors"][0]["message"] == "after is not a cursor this API returned"


async def test_runs_total_count_alone_reads_no_page(client, services, count_queries):
    """Regression (bench P4+): `runs { totalCount }` read the page's rows too; now it is one counting statement."""
    for _ in range(3):
        await _imported_run(client)
    before = count_queries.count
    data = await client.data("{ runs(first: 1) { totalCount __typename } }")
    assert data["runs"] == {"totalCount": 3, "__typename": "RunConnection"}
    # No page read through SQLAlchemy at all: the one statement, on the trigger-kept counters (migration
    # 0006), goes to the driver directly (tests/test_read_sessions.py watches it on the wire).
    assert count_queries.count - before == 0
    # Asking for the page as well still reads it.
    before = count_queries.count
    page = (await client.data("{ runs(first: 2) { totalCount edges { node { id } } } }"))["runs"]
    assert page["totalCount"] == 3 and len(page["edges"]) == 2
    assert count_queries.count - before == 2


async def test_run_refinements_connection_and_costs(client, services):
    run_id, (img,), run = await _imported_run(client)
    refs = [await _add_refinement(services, run_id, img, version=2) for _ in range(3)]
    async with services.db() as session:
        for i, ref in enumerate(refs):
            row = await session.get(Refinement, ref.id)
            row.cost_usd = 0.25 * (i + 1)
            if i == 2:
                row.type = RefinementType.TEXT
        await session.commit()
    data = (
        await client.data(
            """query($id: ID!) { run(id: $id) {
             generationCostUsd refinementCostUsd totalCostUsd
             all: refinements(first: 2) { totalCount edges { node { id } } pageInfo { hasNextPage } }
             text: refinements(type: TEXT) { totalCount edges { node { id type } } }
           } }""",
            {"id": run["id"]},
        )
    )["run"]
    assert data["generationCostUsd"] == 0.0
    assert data["refinementCostUsd"] == 1.5 and data["totalCostUsd"] == 1.5
    assert data["all"]["totalCount"] == 3 and data["all"]["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in data["all"]["edges"]] == [encode_id("Refinement", r.id) for r in refs[:2]]
    assert data["text"]["totalCount"] == 1 and data["text"]["edges"][0]["node"]["type"] == "TEXT"


async def test_a_lineage_walk_probes_one_row_per_step_on_a_table_not_yet_analyzed(client, services):
    """Regression (bench P3b): before Postgres had analyzed a freshly written tree, each step of the lineage walk
    was a hash join that scanned every refinement (5.3 ms for a 50-deep chain in 1,000 rows; now 0.4 ms)."""
    from churns_gql.db import _driver_sql
    from churns_gql.services.lineages import _statement

    run_id, (img,), _ = await _imported_run(client)
    parent = img
    for version in range(2, 12):
        parent = (await _add_refinement(services, run_id, parent, version=version)).id
    engine = services.db.kw["bind"]
    sql, names, defaults = _driver_sql(_statement(True), engine.dialect)
    params = {"refinement_ids": [parent], "limit": 100}
    async with engine.connect() as connection:
        # 2,000 more refinements under the last one, written just now: the planner has no statistics of them.
        await connection.exec_driver_sql(
            "INSERT INTO refinements (id, run_id, generation_index, version, depth, type, status, creativity_level,"
            " parent_refinement_id, estimated_cost_usd) SELECT gen_random_uuid(), run_id, 0, 100 + g, 12, type,"
            f" status, 2, id, 0 FROM refinements, generate_series(1, 2000) g WHERE id = '{parent}'"
        )
        plan = (
            await connection.exec_driver_sql(
                "EXPLAIN " + sql, tuple(params[n] if n in params else defaults[n] for n in names)
            )
        ).all()
    text = "\n".join(line[0] for line in plan)
    assert "Index Scan using pk_refinements on refinements parent" in text, text
