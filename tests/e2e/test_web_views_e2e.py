"""The web client's views in Chromium: gallery and thumbnails, large view and compare, jobs panel, API explorer, phones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import GraphQLClient, import_images, refine, run_worker
from tests.e2e.conftest import BrowserPage
from tests.e2e.helpers import (
    CENTRE_PIXEL,
    block_all_but_loopback,
    card,
    large_png,
    open_run,
    press,
    refine_from_viewer,
    refinements_of,
    seed_run,
    wait_loaded,
)


async def test_compare_on_the_large_image_moves_by_drag_touch_and_keyboard(
    web: BrowserPage, api: GraphQLClient, worker_services
):
    """The large view compares v2 with v1 decoded on one stage; the divider follows a mouse drag, a touch and the keys."""
    page = web.page
    run = await seed_run(api)
    payload = await refine(api, run["images"][0]["id"], prompt="black and white")
    assert not payload["userErrors"], payload["userErrors"]
    assert await run_worker(worker_services) == 1
    [done] = await refinements_of(api, run["id"])
    assert done["status"] == "COMPLETED"

    await open_run(page, run["id"])
    await card(page, 2).get_by_test_id("show-version").click()
    await expect(card(page, 2)).to_have_attribute("aria-current", "true")
    await page.get_by_test_id("compare-toggle").click()
    stage = page.get_by_test_id("compare-stage")
    after = stage.locator("img.compare-after")
    before = stage.locator(".compare-before img")
    await wait_loaded(stage.locator("img"), 2)
    # Both are the real files: the parent is still red, the result is grey.
    red, grey = await before.evaluate(CENTRE_PIXEL), await after.evaluate(CENTRE_PIXEL)
    assert red[0] > red[1] + 80, red
    assert max(grey) - min(grey) <= 2, grey

    slider = page.get_by_test_id("compare-slider")
    clip = stage.locator(".compare-before")
    box = await stage.bounding_box()
    assert box and box["width"] > 500, box  # large: most of the page's width at 1280 px

    async def split() -> float:
        handle = await slider.bounding_box()
        assert handle
        return (handle["x"] + handle["width"] / 2 - box["x"]) / box["width"]

    await expect(slider).to_have_attribute("aria-valuenow", "50")
    # Mouse: press anywhere on the picture and drag.
    await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.6, steps=6)
    await page.mouse.up()
    assert await split() == pytest.approx(0.2, abs=0.01)
    assert "80" in await clip.evaluate("el => el.style.clipPath")
    await expect(slider).to_be_focused()
    # Touch: a finger's pointer events on the picture.
    for kind, fraction in (("pointerdown", 0.6), ("pointermove", 0.75), ("pointerup", 0.75)):
        await stage.dispatch_event(
            kind,
            {
                "pointerId": 7,
                "pointerType": "touch",
                "isPrimary": True,
                "button": 0,
                "clientX": box["x"] + box["width"] * fraction,
                "clientY": box["y"] + 10,
                "bubbles": True,
            },
        )
    assert await split() == pytest.approx(0.75, abs=0.01)
    # Keyboard: the divider is a slider.
    await slider.focus()
    await page.keyboard.press("Home")
    await press(page, "ArrowRight", 5)
    await expect(slider).to_have_attribute("aria-valuetext", "5% before, 95% after")
    await page.keyboard.press("End")
    await expect(slider).to_have_attribute("aria-valuenow", "100")
    assert await split() == pytest.approx(1.0, abs=0.01)
    await press(page, "Shift+ArrowLeft", 3)
    await expect(slider).to_have_attribute("aria-valuenow", "70")
    await web.assert_accessible("the large view comparing")
    await web.screenshot("large-view-compare.png")

    await card(page, 2).get_by_test_id("details-button").click()
    dialog = page.get_by_test_id("details-dialog")
    await expect(dialog.get_by_role("heading", name="v2 · Prompt")).to_be_visible()
    await wait_loaded(dialog.locator(".compare-stage img"), 2)
    await web.assert_accessible("the details dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(card(page, 2).get_by_test_id("details-button")).to_be_focused()


async def test_cancel_from_the_jobs_panel_after_a_reload(web: BrowserPage, api: GraphQLClient, worker_services):
    """A job queued in the refine dialog is listed on every page after a reload and can be cancelled from there."""
    page = web.page
    run = await seed_run(api)
    await open_run(page, run["id"])
    modal = await refine_from_viewer(page, "warmer")
    await expect(modal.get_by_test_id("refine-progress")).to_be_visible()
    await expect(page.get_by_test_id("jobs-panel").get_by_test_id("job-row")).to_have_count(1)

    await page.goto("/#/")
    await page.reload()
    await expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    row = page.get_by_test_id("jobs-panel").get_by_test_id("job-row")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-status", "QUEUED")
    await expect(row.get_by_role("link")).to_have_text("v2 · Prompt edit of original 1")
    await web.assert_accessible("the runs page with the jobs panel")
    await web.screenshot("jobs-panel.png")
    await row.get_by_role("button", name="Cancel v2 · Prompt edit of original 1").click()
    await expect(page.get_by_test_id("jobs-panel")).to_have_count(0)
    [stored] = await refinements_of(api, run["id"])
    assert stored["status"] == "CANCELLED", stored
    # A worker that picks the job up now leaves it cancelled.
    await run_worker(worker_services)
    await open_run(page, run["id"])
    await expect(card(page, 2)).to_have_attribute("data-status", "CANCELLED")


async def test_the_gallery_grid_and_its_thumbnail_byte_budget(web: BrowserPage, api: GraphQLClient):
    """Four 6000 px originals show as a grid of at least two columns at 1280 px for under 1 MB of images."""
    page = web.page
    big = large_png()
    api.http.timeout = 120  # decoding and storing 72 megapixels takes a while on a loaded machine
    payload = await import_images(api, [big] * 4, prompt="autumn collection")
    assert not payload["userErrors"], payload["userErrors"]
    run = payload["run"]
    full_bytes = 0
    for image in run["images"]:
        full_bytes += len((await api.http.get(image["url"])).content)
    assert full_bytes > 5_000_000, full_bytes  # what the page would cost at full size

    image_bytes: dict[str, int] = {}

    async def record(response: Any) -> None:
        if "/files/" in response.url:
            image_bytes[response.url] = len(await response.body())

    page.on("response", record)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(f"/#/runs/{run['id']}")
    tiles = page.get_by_test_id("original-tile")
    await wait_loaded(tiles.locator("img"), 4)
    boxes = [await tiles.nth(i).bounding_box() for i in range(4)]
    columns = {round(b["x"]) for b in boxes if b}
    assert len(columns) >= 2, boxes
    assert all(b and b["width"] >= 250 for b in boxes), boxes
    await page.wait_for_timeout(200)
    assert image_bytes and all("?w=" in url for url in image_bytes), image_bytes
    assert sum(image_bytes.values()) < 1_000_000, image_bytes
    print(
        f"gallery images: {sum(image_bytes.values()):,} bytes in {len(image_bytes)} requests "
        f"({sorted({url.rsplit('?', 1)[1] for url in image_bytes})}); full size {full_bytes:,}"
    )
    await web.assert_accessible("the gallery at 1280 px")
    await web.screenshot("gallery-desktop.png")

    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(tiles.first).to_be_visible()
    assert len({round((await tiles.nth(i).bounding_box())["x"]) for i in range(4)}) == 1
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, scroll_width
    await web.assert_accessible("the gallery at 390 px")
    await web.screenshot("gallery-mobile.png")
    await tiles.nth(1).get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Original 2", level=1)).to_be_visible()
    await wait_loaded(page.get_by_test_id("viewer-image"), 1)
    # The large view on a phone draws a screen-sized copy too (here the one the gallery already fetched).
    src, natural = await page.get_by_test_id("viewer-image").evaluate("img => [img.currentSrc, img.naturalWidth]")
    assert "?w=" in src and natural <= 640, (src, natural)
    print(f"large view at 390 px: {src.rsplit('?', 1)[1]}, {natural} px wide")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await web.assert_accessible("the large view at 390 px")
    await web.screenshot("large-view-mobile.png", full_page=True)
    # The header keeps one row and the refine dialog's tabs too.
    header = await page.locator(".site-header").bounding_box()
    assert header and header["height"] < 70, header
    await page.get_by_test_id("viewer-refine").click()
    tabs = page.get_by_test_id("modal").get_by_role("tab")
    await expect(tabs).to_have_count(3)
    assert len({round((await tabs.nth(i).bounding_box())["y"]) for i in range(3)}) == 1
    # ...and none is cut off by the tab list's edge.
    tablist = await page.get_by_test_id("modal").get_by_role("tablist").bounding_box()
    last = await tabs.nth(2).bounding_box()
    assert tablist and last and last["x"] + last["width"] <= tablist["x"] + tablist["width"] + 1, (last, tablist)
    await web.assert_accessible("the refine dialog at 390 px")
    await web.screenshot("refine-modal-mobile.png")


async def test_the_api_explorer_works_offline_sends_the_token_and_links_back(
    web: BrowserPage, api: GraphQLClient, services
):
    """GraphiQL loads from the server alone (every non-loopback request is blocked), runs a query with the app's token."""

    from churns_gql.services import tokens

    page = web.page
    blocked = await block_all_but_loopback(page)
    async with services.db() as session:
        row, token = await tokens.create_token(session, "explorer")
        await session.commit()
    services.gate.forget()
    await page.goto("/#/")
    await page.evaluate("t => localStorage.setItem('churns.apiToken', t)", token)

    await page.get_by_role("link", name="API explorer").click()
    await page.wait_for_url("**/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await expect(editor).to_be_visible()
    await expect(page.get_by_test_id("explorer-token")).to_have_text("Sending your API token")
    await page.evaluate(
        "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)", "{ me { tokenId } }"
    )
    await page.locator(".graphiql-execute-button").click()
    await expect(page.locator(".graphiql-response")).to_contain_text(str(row.id))
    assert blocked == [], blocked
    await web.screenshot("graphiql.png")

    # Subscriptions go over the websocket: the token rides in connection_init, and the server accepts it.
    api.http.headers["Authorization"] = f"Bearer {token}"
    run = await seed_run(api)
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def watch(ws: Any) -> None:
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", watch)
    subscription = 'subscription Watch { runProgress(id: "RUN") { seq stage } }'.replace("RUN", run["id"])
    await page.evaluate(
        "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)", subscription
    )
    # GraphiQL parses the edited document after a short debounce; only then does it know it is a subscription.
    await page.wait_for_timeout(1000)
    await page.locator(".graphiql-execute-button").click()
    for _ in range(100):
        if any(f["type"] == "subscribe" for f in sent):
            break
        await page.wait_for_timeout(100)
    [init] = [f for f in sent if f["type"] == "connection_init"]
    assert init["payload"] == {"authorization": f"Bearer {token}"}, init
    assert any(f["type"] == "connection_ack" for f in received), received
    assert not [f for f in received if f["type"] == "error"], received
    assert blocked == [], blocked

    await page.get_by_test_id("back-to-app").click()
    await expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()


async def test_axe_on_a_phone_for_the_runs_page_and_every_dialog(web: BrowserPage, api: GraphQLClient, worker_services):
    """At 390 px: the runs page, the details dialog (its stage table reachable by keyboard) and the token dialog."""
    page = web.page
    run = await seed_run(api)
    assert not (await refine(api, run["images"][0]["id"], prompt="warmer"))["userErrors"]
    await run_worker(worker_services)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/#/")
    await expect(page.get_by_test_id("run-card")).to_have_count(1)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await web.assert_accessible("the runs page at 390 px")
    await web.screenshot("runs-mobile.png", full_page=True)

    await open_run(page, run["id"])
    await card(page, 2).get_by_test_id("details-button").click()
    dialog = page.get_by_test_id("details-dialog")
    await expect(dialog.get_by_test_id("stages-table")).to_be_visible()
    frame = dialog.get_by_role("region", name="Stages (scrolls sideways)")
    await frame.focus()
    await expect(frame).to_be_focused()
    await web.assert_accessible("the details dialog at 390 px")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)

    await page.get_by_test_id("token-button").click()
    await expect(page.get_by_test_id("token-dialog")).to_be_visible()
    await web.assert_accessible("the token dialog at 390 px")
