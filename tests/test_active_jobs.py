"""Query.activeJobs: the caller's QUEUED and RUNNING runs and refinements, and nobody else's."""

from __future__ import annotations

from churns_gql.services import tokens
from tests.conftest import import_images, png_bytes, refine, run_worker

ACTIVE = "{ activeJobs { runs { id status } refinements { id status version run { id } } } }"
CANCEL = "mutation($id: ID!) { cancelRefinement(id: $id) { userErrors { code } } }"
CREATE = 'mutation { createRun(input: {prompt: "iced coffee", numImages: 1}) { run { id } userErrors { code } } }'


async def test_lists_queued_jobs_and_drops_finished_and_cancelled_ones(client, worker_services):
    run = (await import_images(client, [png_bytes(48, 32)]))["run"]
    parent = run["images"][0]["id"]
    first = (await refine(client, parent, prompt="warmer"))["refinement"]
    second = (await refine(client, parent, prompt="cooler"))["refinement"]
    created = (await client.data(CREATE))["createRun"]["run"]
    jobs = (await client.data(ACTIVE))["activeJobs"]
    assert [r["id"] for r in jobs["refinements"]] == [first["id"], second["id"]]
    assert {r["status"] for r in jobs["refinements"]} == {"QUEUED"}
    assert jobs["refinements"][0]["run"]["id"] == run["id"]
    # The imported run is COMPLETED already; only the generated one waits.
    assert [r["id"] for r in jobs["runs"]] == [created["id"]]

    assert not (await client.data(CANCEL, {"id": second["id"]}))["cancelRefinement"]["userErrors"]
    await run_worker(worker_services)
    assert (await client.data(ACTIVE))["activeJobs"] == {"runs": [], "refinements": []}


async def test_a_token_sees_only_its_own_jobs(client, services):
    issued = []
    for name in ("a", "b"):
        async with services.db() as session:
            _row, token = await tokens.create_token(session, name)
            await session.commit()
        issued.append(token)
    services.gate.forget()
    mine = {}
    for token in issued:
        client.http.headers["Authorization"] = f"Bearer {token}"
        parent = (await import_images(client, [png_bytes(48, 32)]))["run"]["images"][0]["id"]
        mine[token] = (await refine(client, parent, prompt="warmer"))["refinement"]["id"]
    for token in issued:
        client.http.headers["Authorization"] = f"Bearer {token}"
        jobs = (await client.data(ACTIVE))["activeJobs"]
        assert [r["id"] for r in jobs["refinements"]] == [mine[token]]
    client.http.headers.pop("Authorization")
