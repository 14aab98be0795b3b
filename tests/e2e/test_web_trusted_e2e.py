"""The web client against a server in trusted-documents mode: it sends hashes, and every one is in the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from churns_gql.graphql.persisted import load_manifest
from tests.conftest import GraphQLClient
from tests.e2e.conftest import BrowserPage, WorkerControl
from tests.e2e.helpers import card, open_run, refine_from_viewer, seed_run

MANIFEST = Path(__file__).resolve().parents[2] / "web" / "trusted-documents.json"


async def test_the_web_client_works_when_only_its_manifest_may_run(
    web: BrowserPage, api: GraphQLClient, services, worker: WorkerControl
):
    """Runs list, large view, a refinement queued and followed live to done, all by hash; ad-hoc queries refused."""
    run = await seed_run(api)
    services.documents.trusted = load_manifest(MANIFEST)
    bodies: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if request.url.endswith("/graphql") and request.method == "POST" and request.post_data:
            bodies.append(json.loads(request.post_data))

    page = web.page
    page.on("request", record)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    await page.goto("/#/")
    await expect(page.get_by_text("summer poster").first).to_be_visible()
    await open_run(page, run["id"])
    modal = await refine_from_viewer(page, "warmer")
    await expect(modal.get_by_test_id("refine-progress")).to_have_attribute("data-outcome", "RUNNING")
    worker.start()
    await expect(modal).to_have_count(0)  # the dialog closes by itself once v2 is done
    await expect(card(page, 2)).to_have_attribute("data-status", "COMPLETED")

    assert bodies, "the page sent no GraphQL request"
    # Every HTTP request went by hash alone: the manifest knew each one, so none needed its document.
    assert all("query" not in b and b["extensions"]["persistedQuery"]["version"] == 1 for b in bodies), bodies
    # The subscriptions (sent with document and hash) were accepted: no error frame came back.
    assert any(f.get("type") == "next" for f in frames), frames
    assert not [f for f in frames if f.get("type") == "error"], frames
    refused = await api.http.post("/graphql", json={"query": "{ runs { totalCount } }"})
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
