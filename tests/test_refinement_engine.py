"""refineImage → arq worker → pipeline → files, rows, refinements.json and events (offline provider)."""

from __future__ import annotations

import io
import json

from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy import select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import Refinement, StageEvent
from churns_gql.storage import refinement_path
from tests.conftest import import_images, png_bytes, refine, run_worker


def _uuid(gid: str):
    return decode_id(gid)[1]


async def _imported(client, n=3, size=(90, 60)):
    images = [png_bytes(*size, color=(40 + 60 * i, 120, 200 - 50 * i)) for i in range(n)]
    run = (await import_images(client, images, metadata={"visual_concepts": [{"main_subject": "a red mug"}] * n}))[
        "run"
    ]
    return run, [img["id"] for img in run["images"]]


async def test_chains_and_branches_make_the_version_tree(client, services, worker_services):
    run, (a, b, _c) = await _imported(client)
    a1 = (await refine(client, a, prompt="make it warmer", mask=[{"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}]))[
        "refinement"
    ]
    b1 = (await refine(client, b, prompt="cooler"))["refinement"]
    assert a1["status"] == "QUEUED" and a1["version"] == 2 and a1["url"] is None
    assert await run_worker(worker_services) == 2
    a2 = (await refine(client, a1["id"], prompt="black and white"))["refinement"]
    a3 = (await refine(client, a, prompt="much brighter"))["refinement"]
    assert await run_worker(worker_services) == 2
    # Versions count per original in creation order: a3 is a sibling of a1 but comes after a2.
    assert a2["version"] == 3 and a3["version"] == 4 and b1["version"] == 2
    assert a2["generationIndex"] == 0 and b1["generationIndex"] == 1

    data = await client.data(
        """query($id: ID!) { run(id: $id) { refinementCostUsd images { id children { id version status url summary
             children { id version status url ancestors { id version } } } } } }""",
        {"id": run["id"]},
    )
    images = data["run"]["images"]
    assert [c["id"] for c in images[0]["children"]] == [a1["id"], a3["id"]]
    assert [c["id"] for c in images[1]["children"]] == [b1["id"]]
    assert images[2]["children"] == []
    chain = images[0]["children"][0]["children"][0]
    assert chain["id"] == a2["id"] and chain["version"] == 3 and chain["status"] == "COMPLETED"
    assert [x["id"] for x in chain["ancestors"]] == [a, a1["id"]]
    assert images[0]["children"][0]["summary"] == "Prompt: make it warmer (1 region)"

    run_uuid = _uuid(run["id"])
    folder = services.storage.run_dir(run_uuid)
    expected = {
        refinement_path(_uuid(a1["id"]), 0),
        refinement_path(_uuid(b1["id"]), 1),
        refinement_path(_uuid(a3["id"]), 0),
        refinement_path(_uuid(a2["id"]), _uuid(a1["id"])),
    }
    assert {str(p.relative_to(folder)) for p in (folder / "refinements").glob("*.png")} == expected
    # Every result has its parent's exact size and differs from it.
    for gid in (a1["id"], a2["id"], b1["id"], a3["id"]):
        got = await client.data(
            "query($id: ID!) { refinement(id: $id) { url width height parent { url } } }", {"id": gid}
        )
        ref = got["refinement"]
        result = PILImage.open(io.BytesIO((await client.http.get(ref["url"])).content))
        parent = PILImage.open(io.BytesIO((await client.http.get(ref["parent"]["url"])).content))
        assert result.size == parent.size == (ref["width"], ref["height"]) == (90, 60)
        assert result.convert("RGB").tobytes() != parent.convert("RGB").tobytes()

    index = json.loads((folder / "refinements.json").read_text())
    async with services.db() as session:
        rows = (await session.scalars(select(Refinement).where(Refinement.run_id == run_uuid))).all()
    assert {e["job_id"] for e in index["refinements"]} == {str(r.id) for r in rows}
    for entry in index["refinements"]:
        row = next(r for r in rows if str(r.id) == entry["job_id"])
        assert entry["image_path"] == row.image_path and entry["type"] == row.type.value.lower()
        assert entry["summary"] == row.summary and entry["cost"] == row.cost_usd == 0.0
    a2_entry = next(e for e in index["refinements"] if e["job_id"] == str(_uuid(a2["id"])))
    assert a2_entry["parent_image_id"] == str(_uuid(a1["id"]))
    assert a2_entry["parent_image_path"] == refinement_path(_uuid(a1["id"]), 0)
    assert index["total_refinements"] == 4 and index["total_cost"] == 0.0


async def test_events_and_stages_of_a_completed_refinement(client, services, worker_services):
    _, (a, *_rest) = await _imported(client, n=1)
    # A removal takes long enough for the offline editor to stream a preview (a quick tonal edit streams none).
    ref = (await refine(client, a, prompt="remove the logo", mask=[{"x": 0.3, "y": 0.3, "width": 0.4, "height": 0.4}]))[
        "refinement"
    ]
    await run_worker(worker_services)
    data = (
        await client.data(
            """query($id: ID!) { refinement(id: $id) { status
             events { seq stage status progress terminal message jobId previewUrl }
             later: events(after: 5) { seq }
             stages { name status durationMs startedAt completedAt } } }""",
            {"id": ref["id"]},
        )
    )["refinement"]
    events = data["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["stage"], e["status"]) for e in events] == [
        ("job", "PENDING"),
        ("job", "RUNNING"),
        ("load_base_image", "RUNNING"),
        ("load_base_image", "COMPLETED"),
        ("prompt_refine", "RUNNING"),
        ("prompt_refine", "RUNNING"),
        ("prompt_refine", "COMPLETED"),
        ("save_outputs", "RUNNING"),
        ("save_outputs", "COMPLETED"),
        ("job", "COMPLETED"),
    ]
    assert [e["terminal"] for e in events] == [False] * 9 + [True]
    # The offline provider streams one half-strength preview, published with its URL.
    preview = events[5]
    assert preview["message"] == "partial image 1" and preview["previewUrl"].endswith("_partial_0.png")
    assert (await client.http.get(preview["previewUrl"])).headers["content-type"] == "image/png"
    assert events[-1]["progress"] == 1.0
    assert all(e["jobId"] == ref["id"] for e in events)
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)
    assert [e["seq"] for e in data["later"]] == [6, 7, 8, 9, 10]
    assert [(s["name"], s["status"]) for s in data["stages"]] == [
        ("load_base_image", "COMPLETED"),
        ("prompt_refine", "COMPLETED"),
        ("save_outputs", "COMPLETED"),
    ]
    assert all(s["durationMs"] is not None and s["durationMs"] >= 0 for s in data["stages"])


async def test_a_job_run_twice_leaves_one_file_one_entry_one_terminal_state(client, services, worker_services):
    from churns_gql.worker import run_refinement

    run, (a, *_rest) = await _imported(client, n=1)
    ref = (await refine(client, a, prompt="cooler"))["refinement"]
    await run_worker(worker_services)
    # arq may deliver a job again: running it by hand must change nothing.
    assert await run_refinement({"services": worker_services}, str(_uuid(ref["id"]))) == "COMPLETED"
    folder = services.storage.run_dir(_uuid(run["id"]))
    assert len(list((folder / "refinements").glob("*.png"))) == 1
    assert json.loads((folder / "refinements.json").read_text())["total_refinements"] == 1
    async with services.db() as session:
        terminal = (
            await session.scalars(
                select(StageEvent).where(StageEvent.job_id == _uuid(ref["id"]), StageEvent.terminal.is_(True))
            )
        ).all()
    assert len(terminal) == 1


async def test_lost_index_entry_is_restored_when_the_job_runs_again(client, services, worker_services):
    from churns_gql.worker import run_refinement

    run, (a, *_rest) = await _imported(client, n=1)
    ref = (await refine(client, a, prompt="sharpen"))["refinement"]
    await run_worker(worker_services)
    index_file = services.storage.run_dir(_uuid(run["id"])) / "refinements.json"
    index_file.unlink()
    await run_refinement({"services": worker_services}, str(_uuid(ref["id"])))
    assert [e["job_id"] for e in json.loads(index_file.read_text())["refinements"]] == [str(_uuid(ref["id"]))]


async def test_subject_repair_with_reference_upload(client, services, worker_services):
    from tests.conftest import REFINE

    _, (a, *_rest) = await _imported(client, n=1, size=(200, 120))
    variables = {
        "input": {
            "parentId": a,
            "type": "SUBJECT",
            "referenceImage": None,
            "mask": [{"x": 0.25, "y": 0.25, "width": 0.5, "height": 0.5}],
        }
    }
    # A red disc on a white backdrop: the engine cuts the disc out and places it in the region.
    reference = PILImage.new("RGB", (60, 60), "white")
    ImageDraw.Draw(reference).ellipse((8, 8, 52, 52), fill=(230, 20, 20))
    data = io.BytesIO()
    reference.save(data, format="PNG")
    response = await client.upload(
        REFINE, variables, {"input.referenceImage": ("ref.png", data.getvalue(), "image/png")}
    )
    payload = response.json()["data"]["refineImage"]
    assert payload["userErrors"] == []
    ref = payload["refinement"]
    assert ref["referenceImageUrl"].endswith(f"refinements/{_uuid(ref['id'])}_reference.png")
    stored = await client.http.get(ref["referenceImageUrl"])
    assert PILImage.open(io.BytesIO(stored.content)).size == (60, 60)
    await run_worker(worker_services)
    done = (
        await client.data(
            "query($id: ID!) { refinement(id: $id) { status url summary errorMessage } }", {"id": ref["id"]}
        )
    )["refinement"]
    assert done["status"] == "COMPLETED", done["errorMessage"]
    assert done["summary"] == "Subject: from the reference image (1 region)"
    result = PILImage.open(io.BytesIO((await client.http.get(done["url"])).content)).convert("RGB")
    r, g, b = result.getpixel((100, 60))
    assert r > 150 and g < 90 and b < 90  # the red disc sits in the middle of the region
    assert result.getpixel((5, 5)) == PILImage.open(io.BytesIO(png_bytes(200, 120, (40, 120, 200)))).getpixel((5, 5))


async def test_text_repair_without_known_text_is_refused_up_front(client, services):
    payload = await import_images(client, [png_bytes(80, 80)])
    parent = payload["run"]["images"][0]["id"]
    refused = await refine(client, parent, "TEXT", instructions="fix the spelling")
    assert refused["refinement"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "instructions"], "UNSUPPORTED_BY_PROVIDER")
    ]
    assert "quotes" in refused["userErrors"][0]["message"]
    async with services.db() as session:
        assert (await session.scalars(select(Refinement))).all() == []


async def test_text_repair_with_no_text_in_the_image_fails_with_a_clear_message(client, services, worker_services):
    payload = await import_images(client, [png_bytes(80, 80)])
    parent = payload["run"]["images"][0]["id"]
    ref = (await refine(client, parent, "TEXT", instructions='it should read "SALE"'))["refinement"]
    await run_worker(worker_services)
    done = (
        await client.data(
            "query($id: ID!) { refinement(id: $id) { status errorMessage url events { stage status terminal message } } }",
            {"id": ref["id"]},
        )
    )["refinement"]
    assert done["status"] == "FAILED" and done["url"] is None
    assert "text" in done["errorMessage"].lower()
    assert done["events"][-1] == {"stage": "job", "status": "FAILED", "terminal": True, "message": done["errorMessage"]}
    assert ("text_repair", "FAILED") in [(e["stage"], e["status"]) for e in done["events"]]
    assert list(services.storage.runs_dir.glob("*/refinements/*_from_*.png")) == []
