"""Versions are numbered uniquely per original in creation order; the lineage is `depth` and `parent`."""

from __future__ import annotations

import asyncio

from tests.conftest import import_images, png_bytes, refine, run_worker

TREE = """query($id: ID!) { node(id: $id) { ... on Image { children { id version depth
  parent { id version } children { id version depth parent { version } } } } } }"""


async def test_concurrent_refinements_of_one_original_get_distinct_versions(client):
    run = (await import_images(client, [png_bytes(48, 32), png_bytes(48, 32)]))["run"]
    first, second = (img["id"] for img in run["images"])
    payloads = await asyncio.gather(*(refine(client, first, prompt=f"warmer {i}") for i in range(24)))
    assert all(p["userErrors"] == [] for p in payloads)
    assert sorted(p["refinement"]["version"] for p in payloads) == list(range(2, 26))
    # Each original counts on its own.
    other = await refine(client, second, prompt="cooler")
    assert other["refinement"]["version"] == 2


async def test_siblings_and_chains_never_share_a_number(client, worker_services):
    run = (await import_images(client, [png_bytes(48, 32)]))["run"]
    original = run["images"][0]["id"]
    a = (await refine(client, original, prompt="warmer"))["refinement"]
    b = (await refine(client, original, prompt="cooler"))["refinement"]
    await run_worker(worker_services)
    c = (await refine(client, a["id"], prompt="brighter"))["refinement"]
    await run_worker(worker_services)
    assert (a["version"], b["version"], c["version"]) == (2, 3, 4)
    children = (await client.data(TREE, {"id": original}))["node"]["children"]
    assert [(ch["version"], ch["depth"], ch["parent"]["version"]) for ch in children] == [(2, 1, 1), (3, 1, 1)]
    grand = children[0]["children"]
    assert [(g["version"], g["depth"], g["parent"]["version"]) for g in grand] == [(4, 2, 2)]


async def test_numbering_a_version_reads_one_index_entry_not_the_run(client, services):
    """Regression: the next version was max(version) over every refinement of the run, read under the version lock."""
    from sqlalchemy import text

    from churns_gql.graphql.ids import decode_id
    from churns_gql.models import Image
    from churns_gql.services import versions

    run = (await import_images(client, [png_bytes(48, 32), png_bytes(48, 32)]))["run"]
    async with services.db() as session:
        image = await session.get(Image, decode_id(run["images"][0]["id"])[1])
        assert image is not None
        # 400 refinements of each original, as a busy run builds up.
        await session.execute(
            text(
                "INSERT INTO refinements (id, run_id, parent_image_id, generation_index, version, type, status)"
                " SELECT gen_random_uuid(), :run, :image, g, v, 'PROMPT', 'COMPLETED'"
                " FROM generate_series(0, 1) g, generate_series(2, 401) v"
            ),
            {"run": image.run_id, "image": image.id},
        )
        await session.commit()
    async with services.db() as session:
        # As autovacuum would have by now: without statistics the planner guesses a handful of rows per run.
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await session.execute(text("ANALYZE refinements"))
    async with services.db() as session:
        assert await versions.next_version(session, image.run_id, 0) == 402
        read = await session.scalar(
            text(
                "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)"
                " FROM pg_stat_xact_user_tables WHERE relname = 'refinements'"
            )
        )
        await session.rollback()
    assert read is not None and read < 20, f"{read} refinement rows read to number one version"
