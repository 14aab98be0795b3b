"""R7: 200 concurrent refineImage calls on one parent: 200 children, refinements.json equal to the database."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement
from tests.conftest import import_images, png_bytes, refine, run_worker

COUNT = 200


async def test_two_hundred_concurrent_refinements_of_one_parent(client, services, worker_services):
    run = (await import_images(client, [png_bytes(48, 32)]))["run"]
    parent = run["images"][0]["id"]
    prompts = ["warmer", "cooler", "brighter", "darker", "sharpen"]
    payloads = await asyncio.gather(*(refine(client, parent, prompt=prompts[i % 5]) for i in range(COUNT)))
    assert all(p["userErrors"] == [] and p["refinement"]["status"] == "QUEUED" for p in payloads)
    assert await run_worker(worker_services, max_jobs=8) == COUNT

    data = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Image { children { id status version } } } }", {"id": parent}
    )
    children = data["node"]["children"]
    assert len(children) == COUNT
    assert {c["status"] for c in children} == {"COMPLETED"}
    assert sorted(c["version"] for c in children) == list(range(2, COUNT + 2))
    assert {c["id"] for c in children} == {p["refinement"]["id"] for p in payloads}

    run_id = decode_id(run["id"])[1]
    index = json.loads((services.storage.run_dir(run_id) / "refinements.json").read_text())
    async with services.db() as session:
        rows = (await session.scalars(select(Refinement).where(Refinement.run_id == run_id))).all()
    assert all(r.status == JobStatus.COMPLETED for r in rows)
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(str(r.id) for r in rows)
    assert {e["job_id"]: e["image_path"] for e in index["refinements"]} == {str(r.id): r.image_path for r in rows}
    assert index["total_refinements"] == COUNT
    files = list((services.storage.run_dir(run_id) / "refinements").glob("*_from_0.png"))
    assert len(files) == COUNT
