"""createRun → arq worker → the seven generation stages → PNGs, Image rows, metadata, events (offline provider)."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
from PIL import Image as PILImage
from sqlalchemy import func, select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import Image, StageEvent
from tests.conftest import WSClient, png_bytes, refine, run_worker

SEVEN = [
    "image_eval",
    "strategy",
    "style_guide",
    "creative_expert",
    "prompt_assembly",
    "image_generation",
    "image_assessment",
]
CREATE = """
mutation Create($input: CreateRunInput!) {
  createRun(input: $input) { run { id status platform prompt } userErrors { field message code } }
}
"""
RUN = """
query($id: ID!) { run(id: $id) { status platform errorMessage generationCostUsd metadata
  images { id generationIndex url width height path }
  stages { name status durationMs costUsd message } } }
"""
RUN_PROGRESS = (
    """subscription($id: ID!) { runProgress(id: $id) { seq jobId stage status progress terminal message } }"""
)
PROMPT = "Iced lemon tea for hot summer days"


def _uuid(gid: str):
    """The raw id of a global id."""
    return decode_id(gid)[1]


async def create(client, **fields) -> dict:
    """Call createRun (JSON, no upload) and return its payload."""
    return (await client.data(CREATE, {"input": {"prompt": PROMPT, **fields}}))["createRun"]


async def create_with_reference(client, reference: bytes, **fields) -> dict:
    """Call createRun with a reference image upload and return its payload."""
    variables = {"input": {"prompt": PROMPT, "referenceImage": None, **fields}}
    response = await client.upload(CREATE, variables, {"input.referenceImage": ("ref.png", reference, "image/png")})
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]["createRun"]


async def finished(client, run_id: str) -> dict:
    """The run as RUN queries it."""
    return (await client.data(RUN, {"id": run_id}))["run"]


async def test_a_run_streams_its_events_and_ends_with_images_metadata_and_stages(
    client, services, worker_services, live_server
):
    """createRun → worker: events over runProgress, PNGs at the platform size, metadata, stages; then a TEXT refinement uses the concept."""
    payload = await create(client, platform="Instagram Story/Reel", numImages=2)
    assert payload["userErrors"] == [] and payload["run"]["status"] == "QUEUED"
    run_id = payload["run"]["id"]
    async with WSClient(live_server) as ws:
        await ws.subscribe("g", RUN_PROGRESS, {"id": run_id})
        worker = asyncio.create_task(run_worker(worker_services))
        events = []
        while not (events and events[-1]["terminal"]):
            message = await ws.receive(timeout=30)
            events.append(message["payload"]["data"]["runProgress"])
        assert await worker == 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert (events[0]["stage"], events[0]["status"], events[0]["message"]) == ("job", "PENDING", "queued")
    assert (events[-1]["stage"], events[-1]["status"], events[-1]["progress"]) == ("job", "COMPLETED", 1.0)
    assert {e["jobId"] for e in events} == {run_id}
    assert sum(e["terminal"] for e in events) == 1
    for stage in SEVEN:
        statuses = [e["status"] for e in events if e["stage"] == stage]
        assert statuses[0] == "RUNNING" and statuses[-1] == "COMPLETED"
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
    ready = [e["message"] for e in events if e["stage"] == "image_generation" and e["status"] == "RUNNING"][1:]
    assert [m[-8:] for m in ready] == ["(1 of 2)", "(2 of 2)"]

    run = await finished(client, run_id)
    assert run["status"] == "COMPLETED" and run["errorMessage"] is None and run["generationCostUsd"] == 0.0
    assert [s["name"] for s in run["stages"]] == SEVEN
    assert all(s["status"] == "COMPLETED" and s["durationMs"] is not None for s in run["stages"])
    assert run["stages"][0]["message"] == "skipped: no reference image"
    assert [(i["generationIndex"], i["path"], i["width"], i["height"]) for i in run["images"]] == [
        (0, "originals/image_0.png", 1080, 1920),
        (1, "originals/image_1.png", 1080, 1920),
    ]
    pictures = []
    for image in run["images"]:
        response = await client.http.get(image["url"])
        assert response.headers["content-type"] == "image/png"
        pictures.append(PILImage.open(io.BytesIO(response.content)))
        assert pictures[-1].size == (1080, 1920)
    assert pictures[0].tobytes() != pictures[1].tobytes()  # two strategies, two different images

    metadata = run["metadata"]
    inputs = metadata["user_inputs"]
    assert inputs["prompt"] == PROMPT and inputs["num_images"] == 2 and inputs["language"] == "en"
    assert inputs["platform"] == {"name": "Instagram Story/Reel", "aspect": "9:16", "width": 1080, "height": 1920}
    context = metadata["processing_context"]
    assert context["image_analysis_result"] is None
    assert len(context["marketing_strategies"]) == len(context["style_guidance"]) == 2
    assert context["marketing_strategies"][0] != context["marketing_strategies"][1]
    concepts = [p["visual_concept"] for p in context["generated_image_prompts"]]
    assert set(concepts[0]) == {
        "main_subject",
        "composition",
        "background",
        "lighting_and_mood",
        "color_palette",
        "visual_style",
        "promotional_text_visuals",
        "negative_elements",
    }
    assert concepts[0]["promotional_text_visuals"]["text"] == "ICED LEMON TEA"
    assert all(c.startswith("#") and len(c) == 7 for c in concepts[0]["color_palette"])
    assert [p["mode"] for p in context["final_prompts"]] == ["generate", "generate"]
    assert '"ICED LEMON TEA"' in context["final_prompts"][0]["prompt"]
    assert [r["path"] for r in context["generated_images"]] == ["originals/image_0.png", "originals/image_1.png"]
    for entry in context["image_assessment"]:
        assert entry["subject_preservation"] is None and 1 <= entry["technical_quality"] <= 5
        assert entry["needs_subject_repair"] is False and isinstance(entry["needs_text_repair"], bool)
    assert metadata["cost_summary"] == {"stages": {}, "earlier_attempts_usd": 0.0, "total_usd": 0.0}
    folder = services.storage.run_dir(_uuid(run_id))
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "originals/image_0.png",
        "originals/image_1.png",
        "pipeline_metadata.json",
    ]

    # A TEXT refinement without quoted text reads the run's promotional text from its concept. The offline
    # original already carries it (set on two lines), so nothing is changed: no stray shape is "corrected".
    ref = (await refine(client, run["images"][0]["id"], "TEXT", instructions="make the headline legible"))["refinement"]
    await run_worker(worker_services)
    done = (
        await client.data("query($id: ID!) { refinement(id: $id) { status errorMessage url } }", {"id": ref["id"]})
    )["refinement"]
    assert done["status"] == "FAILED" and done["url"] is None
    assert done["errorMessage"].endswith('The text already reads "ICED LEMON TEA": nothing to correct.')


async def test_same_input_gives_the_same_bytes(client, services, worker_services):
    """Two runs of the same input give identical PNG bytes and metadata (but for the run id)."""
    first = (await create(client, platform="Facebook Post", numImages=2))["run"]["id"]
    second = (await create(client, platform="Facebook Post", numImages=2))["run"]["id"]
    assert await run_worker(worker_services) == 2
    folders = [services.storage.run_dir(_uuid(r)) for r in (first, second)]
    for name in ("originals/image_0.png", "originals/image_1.png"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()
    metadata = [json.loads((f / "pipeline_metadata.json").read_text()) for f in folders]
    assert metadata[0].pop("run_id") != metadata[1].pop("run_id")
    assert metadata[0] == metadata[1]
    assert PILImage.open(folders[0] / "originals/image_0.png").size == (1200, 630)


async def test_a_reference_image_is_described_and_composited(client, services, worker_services):
    """A reference is stored, described by image_eval, used as the subject and assessed for preservation."""
    payload = await create_with_reference(client, png_bytes(200, 200, (230, 20, 20)), numImages=1, language="es")
    run_id = payload["run"]["id"]
    assert payload["userErrors"] == [] and payload["run"]["platform"] == "Instagram Post"
    folder = services.storage.run_dir(_uuid(run_id))
    assert PILImage.open(folder / "reference.png").size == (200, 200)
    await run_worker(worker_services)
    run = await finished(client, run_id)
    assert run["status"] == "COMPLETED", run["errorMessage"]
    assert run["stages"][0]["message"].startswith("reference (200×200): the red subject")
    context = run["metadata"]["processing_context"]
    assert context["image_analysis_result"]["dominant_colors"][0] == "#E61414"
    assert (
        context["generated_image_prompts"][0]["visual_concept"]["main_subject"]
        == context["image_analysis_result"]["main_subject"]
    )
    assert context["final_prompts"][0]["mode"] == "edit"
    assert run["metadata"]["user_inputs"]["language"] == "es"
    assessment = context["image_assessment"][0]
    assert assessment["subject_preservation"] == 5 and assessment["needs_subject_repair"] is False
    image = PILImage.open(folder / "originals/image_0.png").convert("RGB")
    assert image.size == (1080, 1080)
    r, g, b = image.getpixel((540, 430))  # the middle of the subject box holds the red reference
    assert r > 200 and g < 60 and b < 60


async def test_a_job_delivered_twice_adds_nothing_twice(client, services, worker_services):
    """A restarted and then repeated job leaves N Image rows and one terminal event."""
    from churns_gql.models import Run
    from churns_gql.services import lifecycle
    from churns_gql.services.uow import unit_of_work
    from churns_gql.worker import run_generation

    run_id = _uuid((await create(client, numImages=2))["run"]["id"])
    # A worker stopped mid-run leaves it RUNNING with what it had spent; the retry runs every stage again.
    async with unit_of_work(services.db) as uow:
        await lifecycle.start_job(uow.session, Run, run_id)
    async with services.db() as session, session.begin():
        (await session.get(Run, run_id)).generation_cost_usd = 0.25
    assert await run_generation({"services": worker_services}, str(run_id)) == "COMPLETED"
    assert await run_generation({"services": worker_services}, str(run_id)) == "COMPLETED"
    async with services.db() as session:
        images = await session.scalar(select(func.count()).select_from(Image).where(Image.run_id == run_id))
        terminal = await session.scalar(
            select(func.count())
            .select_from(StageEvent)
            .where(StageEvent.job_id == run_id, StageEvent.terminal.is_(True))
        )
        restarted = await session.scalar(
            select(StageEvent.message).where(StageEvent.job_id == run_id, StageEvent.seq == 3)
        )
        cost = (await session.get(Run, run_id)).generation_cost_usd
    assert (images, terminal, cost) == (2, 1, 0.25)
    assert restarted == "restarted after an interruption"
    metadata = json.loads(services.storage.path(run_id, "pipeline_metadata.json").read_text())
    assert metadata["cost_summary"]["earlier_attempts_usd"] == 0.25


async def test_run_progress_over_http_client_sees_history_when_subscribing_late(live_server, worker_services):
    """runProgress replays the generation's recorded events to a late subscriber."""
    async with httpx.AsyncClient(base_url=live_server) as http:
        body = (await http.post("/graphql", json={"query": CREATE, "variables": {"input": {"prompt": PROMPT}}})).json()
    run_id = body["data"]["createRun"]["run"]["id"]
    await run_worker(worker_services)
    async with WSClient(live_server) as ws:
        await ws.subscribe("late", RUN_PROGRESS, {"id": run_id})
        events = []
        while not (events and events[-1]["terminal"]):
            events.append((await ws.receive())["payload"]["data"]["runProgress"])
    assert events[0]["message"] == "queued" and events[-1]["status"] == "COMPLETED"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_images_are_announced_in_count_order_whatever_order_their_events_commit(
    client, services, worker_services, monkeypatch
):
    """Image 1's announcement is slow to commit: image 2 waits for it, so "(1 of 2)" still comes first."""
    from churns_gql.pipeline.context import PipelineContext

    publish = PipelineContext.publish

    async def slow_first(self, status, message=None, **kwargs):
        """Hold the first image's announcement back, as a slow commit would."""
        if message and message.endswith("(1 of 2)"):
            await asyncio.sleep(0.5)
        return await publish(self, status, message, **kwargs)

    monkeypatch.setattr(PipelineContext, "publish", slow_first)
    run_id = (await create(client, numImages=2))["run"]["id"]
    assert await run_worker(worker_services) == 1
    async with services.db() as session:
        messages = await session.scalars(
            select(StageEvent.message)
            .where(StageEvent.job_id == decode_id(run_id)[1], StageEvent.stage == "image_generation")
            .order_by(StageEvent.seq)
        )
        ready = [m for m in messages if m and "ready" in m]
    assert [m[-8:] for m in ready] == ["(1 of 2)", "(2 of 2)"]
