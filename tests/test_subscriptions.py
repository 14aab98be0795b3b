"""refinementProgress and runProgress over graphql-transport-ws against the running app."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import IMPORT_RUN, WSClient, png_bytes, run_worker

PROGRESS = """subscription($id: ID!) { refinementProgress(id: $id) { seq jobId stage status progress terminal message previewUrl } }"""
RUN_PROGRESS = """subscription($id: ID!) { runProgress(id: $id) { seq jobId stage status terminal } }"""
REFINE = (
    """mutation($input: RefineImageInput!) { refineImage(input: $input) { refinement { id } userErrors { code } } }"""
)


async def _import(base: str) -> dict:
    import json

    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/graphql",
            data={
                "operations": json.dumps({"query": IMPORT_RUN, "variables": {"input": {"images": [None]}}}),
                "map": json.dumps({"0": ["variables.input.images.0"]}),
            },
            files={"0": ("a.png", png_bytes(120, 80), "image/png")},
            headers={"Apollo-Require-Preflight": "true"},
        )
        return response.json()["data"]["importRun"]["run"]


async def _refine(base: str, parent: str, prompt: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": REFINE,
                    "variables": {"input": {"parentId": parent, "type": "PROMPT", "prompt": prompt}},
                },
            )
        ).json()
    return body["data"]["refineImage"]["refinement"]["id"]


async def test_live_subscriber_gets_every_event_in_order_then_complete(live_server, worker_services):
    run = await _import(live_server)
    ref_id = await _refine(live_server, run["images"][0]["id"], "warmer and brighter")
    async with WSClient(live_server) as ws:
        await ws.subscribe("1", PROGRESS, {"id": ref_id})
        first = await ws.receive()
        assert first["type"] == "next" and first["payload"]["data"]["refinementProgress"]["seq"] == 1
        worker = asyncio.create_task(run_worker(worker_services))
        rest, last = await ws.collect("1")
        await worker
    events = [first["payload"]["data"]["refinementProgress"]] + [p["data"]["refinementProgress"] for p in rest]
    assert last["type"] == "complete"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["terminal"] and events[-1]["status"] == "COMPLETED" and events[-1]["progress"] == 1.0
    assert not any(e["terminal"] for e in events[:-1])
    assert {e["jobId"] for e in events} == {ref_id}
    assert {"load_base_image", "prompt_refine", "save_outputs"} <= {e["stage"] for e in events}


async def test_late_subscriber_gets_the_full_history_then_complete(live_server, worker_services):
    run = await _import(live_server)
    ref_id = await _refine(live_server, run["images"][0]["id"], "cooler")
    await run_worker(worker_services)
    async with WSClient(live_server) as ws:
        await ws.subscribe("a", PROGRESS, {"id": ref_id})
        items, last = await ws.collect("a")
    events = [p["data"]["refinementProgress"] for p in items]
    assert last["type"] == "complete"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and events[-1]["terminal"]


async def test_run_progress_streams_every_refinement_of_the_run(live_server, worker_services):
    run = await _import(live_server)
    async with WSClient(live_server) as ws:
        await ws.subscribe("r", RUN_PROGRESS, {"id": run["id"]})
        await asyncio.sleep(0.2)  # the subscription is registered before the jobs are queued
        ids = [await _refine(live_server, run["images"][0]["id"], p) for p in ("warmer", "darker")]
        await run_worker(worker_services)
        seen: dict[str, list[int]] = {i: [] for i in ids}
        terminals = 0
        while terminals < 2:
            message = await ws.receive()
            event = message["payload"]["data"]["runProgress"]
            seen[event["jobId"]].append(event["seq"])
            terminals += event["terminal"]
    for seqs in seen.values():
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 8


async def test_subscribing_to_an_unknown_refinement_is_an_error(live_server):
    async with WSClient(live_server) as ws:
        await ws.subscribe("x", PROGRESS, {"id": "UmVmaW5lbWVudDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="})
        items, last = await ws.collect("x")
    assert items == [] or items[0].get("errors")
    messages = (
        [e["message"] for e in (last.get("payload") or [])]
        if last["type"] == "error"
        else [e["message"] for e in items[0]["errors"]]
    )
    assert messages == ["no refinement with that id"]
