"""The seed's REST API (/api/v1) over the same services: refine, list, cancel, events websocket, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from churns_gql.graphql.ids import decode_id
from tests.conftest import import_images, png_bytes, run_worker
from tests.test_security import _token


async def _run(client) -> str:
    """A run with two imported originals; returns its raw id."""
    run = (await import_images(client, [png_bytes(), png_bytes(color=(10, 200, 10))]))["run"]
    return str(decode_id(run["id"])[1])


async def _refine(client, run_id: str, headers: dict | None = None, files: dict | None = None, **fields):
    data = {"refine_type": "prompt", "prompt": "make it warmer", **fields}
    return await client.http.post(
        f"/api/v1/runs/{run_id}/refine", data=data, files=files or {"_": ("", b"")}, headers=headers or {}
    )


async def test_refine_list_and_refine_the_refinement(client, worker_services):
    run_id = await _run(client)
    created = await _refine(
        client, run_id, generation_index="1", mask_data=json.dumps({"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5})
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    assert await run_worker(worker_services) == 1
    second = await _refine(
        client,
        run_id,
        parent_image_type="refinement",
        parent_image_id=job_id,
        refine_type="text",
        instructions='The headline should read "SUMMER SALE"',
        prompt="",
    )
    assert second.status_code == 201, second.text
    listed = (await client.http.get(f"/api/v1/runs/{run_id}/refinements")).json()["refinements"]
    assert [r["job_id"] for r in listed] == [job_id, second.json()["job_id"]]
    first = listed[0]
    assert first["status"] == "COMPLETED" and first["refine_type"] == "prompt" and first["generation_index"] == 1
    assert first["parent_image_type"] == "original" and first["mask_data"] == [
        {"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}
    ]
    assert first["image_url"].startswith(f"/files/runs/{run_id}/") and first["cost_usd"] == 0
    assert (await client.http.get(first["image_url"])).status_code == 200
    assert listed[1]["parent_image_type"] == "refinement" and listed[1]["parent_image_id"] == job_id
    assert listed[1]["status"] == "QUEUED"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"refine_type": "colour"}, "refine_type"),
        ({"mask_data": "{not json"}, "mask_data"),
        ({"creativity_level": "high"}, "creativity_level"),
        ({"prompt": ""}, "prompt"),
        ({"creativity_level": "7"}, "creativity_level"),
    ],
)
async def test_bad_forms_are_422_with_the_form_field_named(client, fields, field):
    run_id = await _run(client)
    response = await _refine(client, run_id, **fields)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors] and all(e["code"] for e in errors)
    assert (await client.http.get(f"/api/v1/runs/{run_id}/refinements")).json()["refinements"] == []


async def test_unknown_runs_and_parents_are_404(client):
    run_id = await _run(client)
    assert (await _refine(client, str(uuid.uuid4()))).status_code == 404
    assert (await _refine(client, "not-a-uuid")).status_code == 404
    missing = await _refine(client, run_id, generation_index="5")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "generation_index"
    stray = await _refine(client, run_id, parent_image_type="refinement", parent_image_id=str(uuid.uuid4()))
    assert stray.status_code == 404


async def test_cancel_then_cancel_again_is_a_conflict(client):
    run_id = await _run(client)
    job_id = (await _refine(client, run_id)).json()["job_id"]
    cancelled = await client.http.post(f"/api/v1/refinements/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json() == {"job_id": job_id, "status": "CANCELLED"}
    again = await client.http.post(f"/api/v1/refinements/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"
    assert (await client.http.post(f"/api/v1/refinements/{uuid.uuid4()}/cancel")).status_code == 404


async def test_same_tokens_and_ownership_as_graphql(client, services):
    await client.execute("{ __typename }")
    mine, theirs = await _token(services, "mine"), await _token(services, "theirs")
    run = await import_images_as(client, mine)
    assert (await _refine(client, run)).status_code == 401
    assert (await _refine(client, run, headers={"Authorization": f"Bearer {theirs}"})).status_code == 404
    created = await _refine(client, run, headers={"Authorization": f"Bearer {mine}"})
    assert created.status_code == 201
    listed = await client.http.get(f"/api/v1/runs/{run}/refinements", headers={"Authorization": f"Bearer {theirs}"})
    assert listed.status_code == 404
    cancel = await client.http.post(
        f"/api/v1/refinements/{created.json()['job_id']}/cancel", headers={"Authorization": f"Bearer {theirs}"}
    )
    assert cancel.status_code == 404


async def import_images_as(client, token: str) -> str:
    """Import a run with `token`; returns its raw id."""
    client.http.headers["Authorization"] = f"Bearer {token}"
    try:
        return await _run(client)
    finally:
        del client.http.headers["Authorization"]


async def test_the_websocket_streams_the_jobs_stage_events(live_server, client, worker_services):
    from websockets.asyncio.client import connect

    run_id = await _run(client)
    job_id = (await _refine(client, run_id)).json()["job_id"]
    url = live_server.replace("http://", "ws://") + f"/api/v1/ws/{job_id}"
    async with connect(url) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["job_id"] == job_id and first["seq"] == 1 and not first["terminal"]
        worker = asyncio.create_task(run_worker(worker_services))
        received = [first]
        while not received[-1]["terminal"]:
            received.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
        await worker
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))
    assert received[-1]["status"] == "COMPLETED" and {"load_base_image", "prompt_refine"} <= {
        e["stage"] for e in received
    }


async def test_the_websocket_refuses_unknown_jobs(live_server):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = live_server.replace("http://", "ws://") + f"/api/v1/ws/{uuid.uuid4()}"
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(url) as ws:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4404 and closed.value.rcvd.reason == "no refinement with that id"


async def test_the_openapi_document_describes_the_routes(client):
    document = (await client.http.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) == {
        "/api/v1/runs/{run_id}/refine",
        "/api/v1/runs/{run_id}/refinements",
        "/api/v1/refinements/{job_id}/cancel",
    }
    form = paths["/api/v1/runs/{run_id}/refine"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {
        "refine_type",
        "parent_image_type",
        "parent_image_id",
        "generation_index",
        "prompt",
        "instructions",
        "mask_data",
        "creativity_level",
        "reference_image",
    }


async def test_subject_refinement_with_a_reference_image(client):
    run_id = await _run(client)
    response = await _refine(
        client,
        run_id,
        refine_type="subject",
        prompt="",
        instructions="",
        files={"reference_image": ("ref.png", png_bytes(color=(0, 0, 255)), "image/png")},
    )
    assert response.status_code == 201, response.text
    listed = (await client.http.get(f"/api/v1/runs/{run_id}/refinements")).json()["refinements"]
    assert listed[0]["refine_type"] == "subject"
    broken = await _refine(
        client,
        run_id,
        refine_type="subject",
        prompt="",
        instructions="",
        files={"reference_image": ("ref.png", b"not an image", "image/png")},
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "reference_image"
