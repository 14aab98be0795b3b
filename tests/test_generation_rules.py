"""createRun validation (every rule, nothing stored), a lost queue, cancelRun, failures and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from churns_gql.graphql.ids import decode_id, encode_id
from churns_gql.models import Run, StageEvent
from churns_gql.providers.base import ImageRequest, ProviderError, StructuredRequest
from churns_gql.providers.generation_local import LocalGenerationProvider
from churns_gql.worker import make_worker, pipeline_jobs_done
from tests.conftest import assert_failed_for_lost_queue, break_queue, import_images, png_bytes, run_worker
from tests.test_generation_engine import CREATE, PROMPT, create, create_with_reference

CANCEL = """mutation($id: ID!) { cancelRun(id: $id) { run { id status } userErrors { field message code } } }"""
STATE = """query($id: ID!) { run(id: $id) { status errorMessage generationCostUsd images { id }
  stages { name status message } } }"""


async def _stored(services) -> tuple[int, int, list[str]]:
    """Runs, events and files in the data dir: all zero/empty when nothing was stored."""
    async with services.db() as session:
        runs = await session.scalar(select(func.count()).select_from(Run))
        events = await session.scalar(select(func.count()).select_from(StageEvent))
    runs_dir = services.storage.runs_dir
    files = (
        sorted(str(p.relative_to(runs_dir)) for p in runs_dir.rglob("*") if p.is_file()) if runs_dir.exists() else []
    )
    return runs, events, files


async def _files(services, gid: str) -> list[str]:
    """Files in one run's folder."""
    folder = services.storage.run_dir(decode_id(gid)[1])
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


RULES = [
    ({"prompt": ""}, ["input", "prompt"]),
    ({"prompt": "   "}, ["input", "prompt"]),
    ({"prompt": "x" * 4001}, ["input", "prompt"]),
    ({"platform": "MySpace"}, ["input", "platform"]),
    ({"platform": ""}, ["input", "platform"]),
    ({"numImages": 0}, ["input", "numImages"]),
    ({"numImages": 5}, ["input", "numImages"]),
    ({"language": "xx"}, ["input", "language"]),
    ({"language": "english"}, ["input", "language"]),
]


@pytest.mark.parametrize("fields,field", RULES, ids=[f"rule{i}" for i in range(len(RULES))])
async def test_bad_input_is_refused_and_nothing_is_stored(client, services, fields, field):
    """Each rule gives its code at its field, and nothing is stored."""
    payload = await create(client, **fields)
    assert payload["run"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, "INVALID")]
    assert await _stored(services) == (0, 0, [])


async def test_every_problem_is_reported_at_once(client, services):
    """All plain-field problems come back together."""
    payload = await create(client, prompt="", platform="MySpace", numImages=9, language="xx")
    assert [e["field"][1] for e in payload["userErrors"]] == ["prompt", "platform", "numImages", "language"]
    assert await _stored(services) == (0, 0, [])


@pytest.mark.parametrize(
    "data,code", [(b"<svg/>", "UNSUPPORTED_FORMAT"), (png_bytes(300, 300)[:80], "INVALID"), (b"", "INVALID")]
)
async def test_bad_reference_upload_is_refused(client, services, data, code):
    """A reference that is not a readable image is refused at input.referenceImage."""
    payload = await create_with_reference(client, data)
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "referenceImage"], code)]
    assert await _stored(services) == (0, 0, [])


async def test_reference_over_the_pixel_limit_is_too_large(client, services):
    """A reference over the pixel limit is TOO_LARGE."""
    services.settings = services.settings.with_changes(max_pixels=1000)
    payload = await create_with_reference(client, png_bytes(100, 100))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "referenceImage"], "TOO_LARGE")]
    assert await _stored(services) == (0, 0, [])


async def test_defaults_and_what_a_queued_run_stores(client, services):
    """Defaults apply, and a QUEUED run holds its inputs and the queued event only."""
    body = await client.data(
        CREATE.replace("platform prompt", "platform prompt metadata stages { name }"),
        {"input": {"prompt": PROMPT, "numImages": None, "language": " EN "}},
    )
    run = body["createRun"]["run"]
    assert run["status"] == "QUEUED" and run["platform"] == "Instagram Post" and run["prompt"] == PROMPT
    assert run["metadata"] is None and run["stages"] == []
    async with services.db() as session:
        row = await session.get(Run, decode_id(run["id"])[1])
        events = (await session.scalars(select(StageEvent).where(StageEvent.job_id == row.id))).all()
    assert row.inputs == {
        "source": "generation",
        "prompt": PROMPT,
        "num_images": 1,
        "language": "en",
        "language_name": "English",
        "platform": {"name": "Instagram Post", "aspect": "1:1", "width": 1080, "height": 1080},
        "reference_image": None,
    }
    assert [(e.stage, e.status.value, e.message) for e in events] == [("job", "PENDING", "queued")]
    assert await _files(services, run["id"]) == []


async def test_queue_down_fails_the_run_and_says_unavailable(client, services):
    """Without Redis the run ends FAILED and the payload says UNAVAILABLE."""
    await break_queue(services)
    payload = await create(client)
    await assert_failed_for_lost_queue(services, Run, payload, "run")


async def test_cancel_while_queued_means_the_stages_never_run(client, services, worker_services):
    """A run cancelled while QUEUED never runs a stage."""
    run = (await create_with_reference(client, png_bytes(40, 40)))["run"]
    payload = (await client.data(CANCEL, {"id": run["id"]}))["cancelRun"]
    assert payload == {"run": {"id": run["id"], "status": "CANCELLED"}, "userErrors": []}
    await run_worker(worker_services)
    data = (await client.data(STATE, {"id": run["id"]}))["run"]
    assert data["status"] == "CANCELLED" and data["images"] == [] and data["stages"] == []
    async with services.db() as session:
        events = (await session.scalars(select(StageEvent).order_by(StageEvent.seq))).all()
    assert [(e.stage, e.status.value, e.terminal) for e in events] == [
        ("job", "PENDING", False),
        ("job", "CANCELLED", True),
    ]
    assert await _files(services, run["id"]) == ["reference.png"]  # the user's upload, nothing the job made


async def test_cancel_conflicts_and_unknown_ids(client, services, worker_services):
    """Finished runs are a CONFLICT, unknown or foreign ids NOT_FOUND."""
    run = (await create(client))["run"]
    await run_worker(worker_services)
    payload = (await client.data(CANCEL, {"id": run["id"]}))["cancelRun"]
    assert payload["run"] is None
    assert [(e["code"], e["message"]) for e in payload["userErrors"]] == [("CONFLICT", "the run is already COMPLETED")]
    imported = (await import_images(client, [png_bytes()]))["run"]
    conflict = (await client.data(CANCEL, {"id": imported["id"]}))["cancelRun"]
    assert [e["code"] for e in conflict["userErrors"]] == ["CONFLICT"]
    image_id = decode_id(imported["images"][0]["id"])[1]
    for bad in ("nope", encode_id("Image", image_id), encode_id("Run", image_id)):
        unknown = (await client.data(CANCEL, {"id": bad}))["cancelRun"]
        assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [(["id"], "NOT_FOUND")]


class GatedGenerator(LocalGenerationProvider):
    """The offline provider, held at the image call until the test opens the gate."""

    def __init__(self) -> None:
        """Start with the gate closed."""
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def generate(self, request: ImageRequest):
        """Wait for the gate, then render."""
        self.entered.set()
        await self.gate.wait()
        return await super().generate(request)


async def _ended_cleanly(client, services, run_id: str, status: str) -> dict:
    """Assert the run ended with `status`, one terminal event, no images and no files; return its state."""
    data = (await client.data(STATE, {"id": run_id}))["run"]
    assert data["status"] == status and data["images"] == []
    async with services.db() as session:
        events = (
            await session.scalars(
                select(StageEvent).where(StageEvent.job_id == decode_id(run_id)[1]).order_by(StageEvent.seq)
            )
        ).all()
    assert sum(e.terminal for e in events) == 1 and events[-1].terminal and events[-1].status.value == status
    assert await _files(services, run_id) == []
    return data


async def test_cancel_while_running_stops_at_the_next_check(client, services, worker_services):
    """A cancel during the image calls stops the job after them and removes what it wrote."""
    generator = GatedGenerator()
    run = (await create(client, numImages=3))["run"]
    worker = asyncio.create_task(run_worker(replace(worker_services, generator=generator)))
    await asyncio.wait_for(generator.entered.wait(), 10)
    payload = (await client.data(CANCEL, {"id": run["id"]}))["cancelRun"]
    assert payload["run"]["status"] == "CANCELLED"
    generator.gate.set()  # the images are rendered and written, then the check after the calls sees the cancel
    await asyncio.wait_for(worker, 10)
    data = await _ended_cleanly(client, services, run["id"], "CANCELLED")
    assert [s["name"] for s in data["stages"]][-1] == "image_generation"


@asynccontextmanager
async def _long_running_worker(worker_services) -> AsyncIterator[Any]:
    """A non-burst worker over `worker_services`, stopped when the block ends."""
    worker = make_worker(worker_services)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()


async def test_cancel_while_running_aborts_the_arq_job(client, services, worker_services):
    """A cancel during a call that never returns aborts the arq job."""
    generator = GatedGenerator()  # the gate never opens: only the abort can end this job
    run = (await create(client))["run"]
    async with _long_running_worker(replace(worker_services, generator=generator)) as worker:
        await asyncio.wait_for(generator.entered.wait(), 10)
        assert (await client.data(CANCEL, {"id": run["id"]}))["cancelRun"]["run"]["status"] == "CANCELLED"
        deadline = asyncio.get_running_loop().time() + 10
        while not (worker.jobs_failed or pipeline_jobs_done(worker)) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert worker.jobs_failed + pipeline_jobs_done(worker) == 1 and not worker.jobs_retried
    await _ended_cleanly(client, services, run["id"], "CANCELLED")


async def test_a_timed_out_generation_fails_with_a_message(client, services, worker_services):
    """A generation over its time budget ends FAILED, timed out after N min."""
    generator = GatedGenerator()
    slow = replace(
        worker_services, generator=generator, settings=worker_services.settings.with_changes(generation_timeout_s=1)
    )
    run = (await create(client))["run"]
    await run_worker(slow)
    data = await _ended_cleanly(client, services, run["id"], "FAILED")
    assert data["errorMessage"] == "timed out after 1 min"
    assert (data["stages"][-1]["name"], data["stages"][-1]["status"]) == ("image_generation", "FAILED")


class FailingStage(LocalGenerationProvider):
    """The offline provider with one stage's question failing as a provider would."""

    def __init__(self, stage: str) -> None:
        """Fail `stage`."""
        self.stage = stage

    async def structured(self, request: StructuredRequest):
        """Fail the chosen stage, answer the rest."""
        if request.stage == self.stage:
            raise ProviderError("rate_limit", "OpenAI rate limit reached; try again in a minute")
        return await super().structured(request)


@pytest.mark.parametrize("stage", ["strategy", "image_assessment"])
async def test_a_failing_stage_fails_the_run_and_leaves_no_files(client, services, worker_services, stage):
    """A provider error in any stage fails the run there, with its message and no files."""
    run = (await create(client, numImages=2))["run"]
    await run_worker(replace(worker_services, generator=FailingStage(stage)))
    data = await _ended_cleanly(client, services, run["id"], "FAILED")
    assert data["errorMessage"] == "OpenAI rate limit reached; try again in a minute"
    assert (data["stages"][-1]["name"], data["stages"][-1]["status"]) == (stage, "FAILED")
    assert all(s["status"] == "COMPLETED" for s in data["stages"][:-1])
