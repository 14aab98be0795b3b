"""refineImage validation (every rule, nothing stored), a lost queue, and cancellation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from churns_gql.graphql.ids import decode_id, encode_id
from churns_gql.models import Refinement, StageEvent
from churns_gql.providers.base import EditRequest, EditResult
from churns_gql.providers.local import LocalImageEditor
from churns_gql.worker import make_worker, pipeline_jobs_done
from tests.conftest import (
    REFINE,
    assert_failed_for_lost_queue,
    break_queue,
    import_images,
    png_bytes,
    refine,
    run_worker,
)

CANCEL = """mutation($id: ID!) { cancelRefinement(id: $id) { refinement { id status } userErrors { field message code } } }"""


async def _stored(services) -> tuple[int, int, list[str]]:
    async with services.db() as session:
        refs = await session.scalar(select(func.count()).select_from(Refinement))
        events = await session.scalar(select(func.count()).select_from(StageEvent))
    files = sorted(str(p.name) for p in services.storage.runs_dir.glob("*/refinements/**/*") if p.is_file())
    return refs, events, files


@pytest.fixture
async def parent(client) -> str:
    run = (await import_images(client, [png_bytes(64, 64)]))["run"]
    return run["images"][0]["id"]


LONG = "x" * 4001
RULES = [
    ({"type": "PROMPT"}, ["input", "prompt"], "INVALID"),
    ({"type": "PROMPT", "prompt": "   "}, ["input", "prompt"], "INVALID"),
    ({"type": "TEXT"}, ["input", "instructions"], "INVALID"),
    ({"type": "SUBJECT"}, ["input", "instructions"], "INVALID"),
    ({"type": "PROMPT", "prompt": "x", "creativityLevel": 0}, ["input", "creativityLevel"], "INVALID"),
    ({"type": "PROMPT", "prompt": "x", "creativityLevel": 4}, ["input", "creativityLevel"], "INVALID"),
    ({"type": "PROMPT", "prompt": LONG}, ["input", "prompt"], "INVALID"),
    ({"type": "TEXT", "instructions": LONG}, ["input", "instructions"], "INVALID"),
    (
        {"type": "PROMPT", "prompt": "x", "mask": [{"x": 0.5, "y": 0.5, "width": 0.6, "height": 0.1}]},
        ["input", "mask", "0", "width"],
        "INVALID",
    ),
    (
        {
            "type": "PROMPT",
            "prompt": "x",
            "mask": [
                {"x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1},
                {"x": -0.1, "y": 0.5, "width": 0.1, "height": 0.1},
            ],
        },
        ["input", "mask", "1", "x"],
        "INVALID",
    ),
    (
        {"type": "PROMPT", "prompt": "x", "mask": [{"x": 0.1, "y": 0.1, "width": 0, "height": 0.1}]},
        ["input", "mask", "0", "width"],
        "INVALID",
    ),
    (
        {"type": "PROMPT", "prompt": "x", "mask": [{"x": 0.1, "y": 0.1, "width": 0.2, "height": -0.1}]},
        ["input", "mask", "0", "height"],
        "INVALID",
    ),
    (
        {"type": "PROMPT", "prompt": "x", "mask": [{"x": 0.0, "y": 0.9, "width": 0.1, "height": 0.2}]},
        ["input", "mask", "0", "height"],
        "INVALID",
    ),
    (
        {"type": "PROMPT", "prompt": "x", "mask": [{"x": 0.0, "y": 0.0, "width": 0.05, "height": 0.05}] * 17},
        ["input", "mask"],
        "INVALID",
    ),
]


@pytest.mark.parametrize("fields,field,code", RULES, ids=[f"rule{i}" for i in range(len(RULES))])
async def test_bad_input_is_refused_and_nothing_is_stored(client, services, parent, fields, field, code):
    payload = await refine(client, parent, **fields)
    assert payload["refinement"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert await _stored(services) == (0, 0, [])


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "add a surfer in the background"},
        {"prompt": "x"},
        {"prompt": "remove the logo"},
        {"prompt": "add a red surfer", "mask": [{"x": 0.1, "y": 0.1, "width": 0.3, "height": 0.3}]},
    ],
    ids=["surfer", "nonsense", "removal-without-mask", "generative-with-mask"],
)
async def test_prompt_the_offline_engine_cannot_do_is_refused_before_storing(client, services, parent, fields):
    """Regression: "add a surfer in the background" used to COMPLETE unchanged; now nothing is stored or queued."""
    payload = await refine(client, parent, **fields)
    assert payload["refinement"] is None
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["input", "prompt"], "UNSUPPORTED_BY_PROVIDER")
    assert "offline" in error["message"]
    assert await _stored(services) == (0, 0, [])


async def test_partly_understood_and_masked_removal_prompts_are_queued(client, services, parent):
    """A prompt with something doable is queued; removal with a rectangle is too."""
    ok = await refine(client, parent, prompt="warmer, with a dragon")
    masked = await refine(
        client, parent, prompt="remove the logo", mask=[{"x": 0.1, "y": 0.1, "width": 0.3, "height": 0.3}]
    )
    assert ok["userErrors"] == [] and masked["userErrors"] == []
    assert (await _stored(services))[0] == 2


async def test_openai_provider_is_not_held_to_the_offline_rules(client, services, parent):
    """With OpenAI editing, a generative prompt is the model's job and is queued."""
    services.settings = services.settings.with_changes(provider="openai")
    payload = await refine(client, parent, prompt="add a surfer in the background")
    assert payload["userErrors"] == [] and payload["refinement"]["status"] == "QUEUED"


async def test_unknown_or_wrong_type_parent_is_not_found(client, services, parent):
    image_id = decode_id(parent)[1]
    for bad in [
        "garbage",
        encode_id("Run", image_id),
        encode_id("Refinement", image_id),
        encode_id("Image", uuid.uuid4()),
    ]:
        payload = await refine(client, bad, prompt="x")
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "parentId"], "NOT_FOUND")]
    assert await _stored(services) == (0, 0, [])


async def test_refining_an_unfinished_refinement_is_not_ready(client, services, parent):
    queued = (await refine(client, parent, prompt="warmer"))["refinement"]
    payload = await refine(client, queued["id"], prompt="cooler")
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "parentId"], "NOT_READY")]
    assert (await _stored(services))[0] == 1


@pytest.mark.parametrize("data,code", [(b"<svg/>", "UNSUPPORTED_FORMAT"), (png_bytes(300, 300)[:80], "INVALID")])
async def test_bad_reference_upload_is_refused(client, services, parent, data, code):
    variables = {"input": {"parentId": parent, "type": "SUBJECT", "referenceImage": None}}
    body = (await client.upload(REFINE, variables, {"input.referenceImage": ("ref.png", data, "image/png")})).json()
    payload = body["data"]["refineImage"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "referenceImage"], code)]
    assert await _stored(services) == (0, 0, [])


async def test_reference_with_a_non_subject_type_is_invalid(client, services, parent):
    variables = {"input": {"parentId": parent, "type": "PROMPT", "prompt": "x", "referenceImage": None}}
    body = (
        await client.upload(REFINE, variables, {"input.referenceImage": ("r.png", png_bytes(), "image/png")})
    ).json()
    assert [e["code"] for e in body["data"]["refineImage"]["userErrors"]] == ["INVALID"]
    assert await _stored(services) == (0, 0, [])


async def test_reference_over_the_pixel_limit_is_too_large(client, services, parent):
    services.settings = services.settings.with_changes(max_pixels=1000)
    variables = {"input": {"parentId": parent, "type": "SUBJECT", "referenceImage": None}}
    body = (
        await client.upload(REFINE, variables, {"input.referenceImage": ("r.png", png_bytes(100, 100), "image/png")})
    ).json()
    assert [e["code"] for e in body["data"]["refineImage"]["userErrors"]] == ["TOO_LARGE"]
    assert await _stored(services) == (0, 0, [])


async def test_queue_down_fails_the_refinement_and_says_unavailable(client, services, parent):
    await break_queue(services)
    payload = await refine(client, parent, prompt="warmer")
    await assert_failed_for_lost_queue(services, Refinement, payload, "refinement")


async def test_cancel_while_queued_means_the_stages_never_run(client, services, worker_services, parent):
    ref = (await refine(client, parent, prompt="warmer"))["refinement"]
    payload = (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]
    assert payload == {"refinement": {"id": ref["id"], "status": "CANCELLED"}, "userErrors": []}
    await run_worker(worker_services)
    data = (
        await client.data(
            "query($id: ID!) { refinement(id: $id) { status url events { stage status terminal } } }", {"id": ref["id"]}
        )
    )["refinement"]
    assert data["status"] == "CANCELLED" and data["url"] is None
    assert data["events"] == [
        {"stage": "job", "status": "PENDING", "terminal": False},
        {"stage": "job", "status": "CANCELLED", "terminal": True},
    ]
    assert (await _stored(services))[2] == []


async def test_cancelling_a_finished_refinement_is_a_conflict(client, services, worker_services, parent):
    ref = (await refine(client, parent, prompt="warmer"))["refinement"]
    await run_worker(worker_services)
    payload = (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]
    assert payload["refinement"] is None
    assert [(e["code"], e["message"]) for e in payload["userErrors"]] == [
        ("CONFLICT", "the refinement is already COMPLETED")
    ]
    unknown = (await client.data(CANCEL, {"id": "nope"}))["cancelRefinement"]
    assert [e["code"] for e in unknown["userErrors"]] == ["NOT_FOUND"]


class GatedEditor:
    """The offline editor, held at the provider call until the test opens the gate."""

    name = "local"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.inner = LocalImageEditor()

    async def edit(self, request: EditRequest) -> EditResult:
        """Wait for the gate, then edit."""
        self.entered.set()
        await self.gate.wait()
        return await self.inner.edit(request)


async def _final_state(client, services, ref_id):
    data = (
        await client.data(
            "query($id: ID!) { refinement(id: $id) { status url events { stage status terminal } } }", {"id": ref_id}
        )
    )["refinement"]
    index = services.storage.runs_dir.glob("*/refinements.json")
    return data, [json.loads(p.read_text()) for p in index]


async def test_cancel_while_running_stops_at_the_next_check(client, services, worker_services, parent):
    editor = GatedEditor()
    gated = replace(worker_services, editor=editor)
    ref = (await refine(client, parent, prompt="warmer"))["refinement"]
    worker = asyncio.create_task(run_worker(gated))
    await asyncio.wait_for(editor.entered.wait(), 10)
    payload = (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]
    assert payload["refinement"]["status"] == "CANCELLED"
    editor.gate.set()  # the provider returns; the stage's COMPLETED event sees the cancel
    await asyncio.wait_for(worker, 10)
    data, indexes = await _final_state(client, services, ref["id"])
    assert data["status"] == "CANCELLED" and data["url"] is None
    assert data["events"][-1] == {"stage": "job", "status": "CANCELLED", "terminal": True}
    assert sum(e["terminal"] for e in data["events"]) == 1
    assert indexes == [] and (await _stored(services))[2] == []


async def test_cancel_while_running_aborts_the_arq_job(client, services, worker_services, parent):
    editor = GatedEditor()  # the gate never opens: only the abort can end this job
    gated = replace(worker_services, editor=editor)
    ref = (await refine(client, parent, prompt="warmer"))["refinement"]
    worker = make_worker(gated)
    task = asyncio.create_task(worker.async_run())
    try:
        await asyncio.wait_for(editor.entered.wait(), 10)
        payload = (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]
        assert payload["refinement"]["status"] == "CANCELLED"
        for _ in range(200):
            if worker.jobs_failed or pipeline_jobs_done(worker) or worker.jobs_retried:
                break
            await asyncio.sleep(0.05)
        assert not worker.tasks or all(t.done() for t in worker.tasks.values())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    data, indexes = await _final_state(client, services, ref["id"])
    assert data["status"] == "CANCELLED"
    assert sum(e["terminal"] for e in data["events"]) == 1 and data["events"][-1]["status"] == "CANCELLED"
    assert indexes == [] and (await _stored(services))[2] == []


class PreviewingEditor:
    """An editor that streams one preview and then waits forever: only an abort ends its job."""

    name = "local"

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def edit(self, request: EditRequest) -> EditResult:
        """Send a preview (its write is slow, see the test), then hang."""
        self.entered.set()
        await request.on_partial(PILImage.new("RGB", (8, 8), (200, 30, 30)), 0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_an_abort_during_a_preview_write_leaves_no_preview_behind(
    client, services, worker_services, parent, monkeypatch
):
    """The preview lands after the abort (a thread cannot be stopped): the job waits for it before cleaning up."""
    store = services.storage.store
    write = store.write

    def slow_write(key, data):
        """Previews take a second to write, long enough for the abort to arrive meanwhile."""
        if "_partial_" in key:
            time.sleep(1.0)
        return write(key, data)

    monkeypatch.setattr(store, "write", slow_write)
    editor = PreviewingEditor()
    ref = (await refine(client, parent, prompt="warmer"))["refinement"]
    worker = make_worker(replace(worker_services, editor=editor))
    task = asyncio.create_task(worker.async_run())
    try:
        await asyncio.wait_for(editor.entered.wait(), 10)
        payload = (await client.data(CANCEL, {"id": ref["id"]}))["cancelRefinement"]
        assert payload["refinement"]["status"] == "CANCELLED"
        for _ in range(200):
            if worker.jobs_failed or pipeline_jobs_done(worker) or worker.jobs_retried:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    await asyncio.sleep(1.2)  # any write still in its thread has landed by now
    assert (await _stored(services))[2] == []
