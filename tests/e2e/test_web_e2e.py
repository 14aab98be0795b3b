"""The web client in headless Chromium against the real server, worker and offline provider."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.conftest import GraphQLClient, import_images, png_bytes, refine, run_worker
from tests.e2e.conftest import BrowserPage, WorkerControl

RED = (200, 60, 60)

RUN_REFINEMENTS = """
query($id: ID!) {
  run(id: $id) {
    refinements(first: 100) {
      edges { node { id version status url type prompt mask { x y width height } parent { id version } } }
    }
  }
}
"""

CANCEL = """
mutation($id: ID!) { cancelRefinement(id: $id) { refinement { status } userErrors { code message } } }
"""

# Records every distinct aria-valuenow the refine dialog's progress bar shows, however briefly:
# the offline provider finishes in milliseconds, faster than any polling assertion could sample.
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const record = () => {
    const bar = document.querySelector('[data-testid="modal"] [data-testid="progress-bar"]');
    if (!bar) return;
    const value = Number(bar.getAttribute('aria-valuenow'));
    if (window.__progress[window.__progress.length - 1] !== value) window.__progress.push(value);
  };
  new MutationObserver(record).observe(document.body,
    { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
}"""

# The centre pixel of an image as the page decoded it, read back through a canvas.
CENTRE_PIXEL = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(img.naturalWidth >> 1, img.naturalHeight >> 1, 1, 1).data.slice(0, 3));
}"""


async def import_run_images(api: GraphQLClient, run_id: str) -> list[str]:
    """The ids of a run's originals."""
    data = await api.data("query($id: ID!) { run(id: $id) { images { id } } }", {"id": run_id})
    return [image["id"] for image in data["run"]["images"]]


async def refinements_of(api: GraphQLClient, run_id: str) -> list[dict[str, Any]]:
    """The run's refinements as the API reports them, by version."""
    data = await api.data(RUN_REFINEMENTS, {"id": run_id})
    return sorted((e["node"] for e in data["run"]["refinements"]["edges"]), key=lambda r: r["version"])


async def seed_run(api: GraphQLClient, size: tuple[int, int] = (320, 240)) -> dict[str, Any]:
    """Import one red image through the live server; returns the run."""
    payload = await import_images(api, [png_bytes(*size, RED)], prompt="summer poster")
    assert not payload["userErrors"], payload["userErrors"]
    return payload["run"]


async def open_run(page: Page, run_id: str) -> None:
    """Load the large view of a run's first original and wait for it to render."""
    await page.goto(f"/#/runs/{run_id}/images/0")
    await expect(page.get_by_role("heading", name="Original 1", level=1)).to_be_visible()
    await expect(page.get_by_test_id("viewer-image")).to_have_count(1)


def card(page: Page, version: int) -> Locator:
    """The refinement card of one version."""
    return page.locator(f'[data-testid="refinement-card"][data-version="{version}"]')


async def tab_to(page: Page, test_id: str, limit: int = 30) -> None:
    """Press Tab until the element with `test_id` has focus, as a keyboard user would."""
    for _ in range(limit):
        if await page.evaluate("id => document.activeElement?.dataset?.testid === id", test_id):
            return
        await page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached {test_id}")


async def press(page: Page, key: str, times: int) -> None:
    """Press one key several times."""
    for _ in range(times):
        await page.keyboard.press(key)


async def wait_loaded(images: Locator, count: int) -> None:
    """Wait until `count` images matched by the locator are decoded with real pixels."""
    await expect(images).to_have_count(count)
    await images.first.page.wait_for_function(
        "els => els.length > 0 && els.every(img => img.complete && img.naturalWidth > 0)",
        arg=await images.element_handles(),
    )


async def test_import_refine_with_a_keyboard_mask_then_refine_v2_to_v3(
    web: BrowserPage, worker: WorkerControl, api: GraphQLClient, tmp_path
):
    """Import in the UI, draw a mask by keyboard, watch v2 progress to done, refine v2 into v3: the chain shows."""
    page = web.page
    image = tmp_path / "poster.png"
    image.write_bytes(png_bytes(320, 240, RED))

    await page.goto("/#/")
    await expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    form = page.get_by_test_id("import-run-form")
    await form.locator('input[type="file"]').set_input_files(str(image))
    await expect(page.get_by_test_id("import-notice")).to_have_text("1 image added.")
    await form.get_by_label("What the images were made for").fill("summer poster")
    await page.get_by_test_id("import-submit").click()
    await page.wait_for_url(re.compile(r"#/runs/.+"))
    tile = page.get_by_test_id("original-tile")
    await expect(tile).to_have_count(1)
    await wait_loaded(tile.locator("img"), 1)
    run_id = await page.evaluate("decodeURIComponent(location.hash.replace('#/runs/', ''))")
    image_id = (await import_run_images(api, run_id))[0]
    await tile.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Original 1", level=1)).to_be_visible()
    await wait_loaded(page.get_by_test_id("viewer-image"), 1)

    # From here to Submit only the keyboard is used.
    await page.get_by_test_id("viewer-refine").focus()
    await page.keyboard.press("Enter")
    modal = page.get_by_test_id("modal")
    await expect(modal).to_be_visible()
    await expect(modal.get_by_test_id("tab-subject")).to_be_focused()
    await press(page, "ArrowRight", 2)
    await expect(modal.get_by_test_id("tab-prompt")).to_be_focused()
    await expect(modal.get_by_test_id("tab-prompt")).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("Tab")
    await expect(modal.get_by_label("What to change")).to_be_focused()
    await page.keyboard.type("warmer")
    await page.keyboard.press("Tab")
    await expect(modal.get_by_test_id("draw-mask-toggle")).to_be_focused()
    await page.keyboard.press("Space")
    await expect(modal.get_by_test_id("draw-mask-toggle")).to_be_checked()
    await page.keyboard.press("Tab")
    overlay = modal.get_by_test_id("mask-overlay")
    await expect(overlay).to_be_focused()
    await wait_loaded(modal.locator(".mask-stage img"), 1)
    # The focus ring sits on the picture itself, so it needs a light and a dark band to show on any image.
    ring = await overlay.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth,"
                                  " getComputedStyle(el).boxShadow]")
    assert ring[:2] == ["solid", "4px"] and "rgb(255, 255, 255)" in ring[2] and "rgb(0, 0, 0)" in ring[2], ring

    await page.keyboard.press("Enter")  # a centred 25% x 25% rectangle, selected
    await expect(modal.get_by_test_id("mask-rect")).to_have_count(1)
    await press(page, "ArrowRight", 5)
    await press(page, "ArrowDown", 2)
    await press(page, "Shift+ArrowRight", 5)
    await press(page, "Shift+ArrowUp", 5)
    expected = {"x": 0.425, "y": 0.395, "width": 0.30, "height": 0.20}
    stage = await overlay.bounding_box()
    drawn = await modal.get_by_test_id("mask-rect").bounding_box()
    assert stage and drawn
    on_screen = {"x": (drawn["x"] - stage["x"]) / stage["width"], "y": (drawn["y"] - stage["y"]) / stage["height"],
                 "width": drawn["width"] / stage["width"], "height": drawn["height"] / stage["height"]}
    assert on_screen == pytest.approx(expected, abs=0.02), on_screen
    await expect(modal.get_by_test_id("mask-live")).to_contain_text("Rectangle 1")
    await web.assert_accessible("the refine modal with a drawn mask")
    shot = await web.screenshot("refine-modal.png")
    assert shot.stat().st_size > 10_000

    await page.evaluate(RECORD_PROGRESS)
    await tab_to(page, "submit-button")
    await page.keyboard.press("Enter")
    progress = modal.get_by_test_id("progress-bar")
    await expect(progress).to_have_attribute("aria-valuenow", "0")
    await expect(modal.get_by_test_id("refine-progress")).to_contain_text("Waiting for a worker")
    await expect(card(page, 2)).to_have_attribute("data-status", "QUEUED")

    worker.start()
    await expect(modal).to_have_count(0)  # the dialog closes by itself once v2 is done
    v2 = card(page, 2)
    await expect(v2).to_have_attribute("data-status", "COMPLETED")
    await expect(v2).to_be_focused()
    # The highlight shows although the focus came from script (no :focus-visible).
    assert await v2.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    values = await page.evaluate("window.__progress")
    assert values[0] == 0 and values[-1] == 100, values
    assert values == sorted(values) and len(values) >= 3, f"the bar did not move step by step: {values}"

    [stored] = await refinements_of(api, run_id)
    assert stored["parent"]["id"] == image_id and stored["prompt"] == "warmer"
    assert stored["mask"] == [pytest.approx(expected, abs=1e-6)], stored["mask"]

    await v2.get_by_test_id("refine-button").click()
    await expect(modal.get_by_role("heading", name="Refine v2 of original 1", exact=True)).to_be_visible()
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_label("What to change").fill("black and white")
    await modal.get_by_test_id("submit-button").click()
    await expect(modal).to_have_count(0)
    v3 = card(page, 3)
    await expect(v3).to_have_attribute("data-status", "COMPLETED")
    await expect(v3.get_by_test_id("lineage")).to_have_text("· from v2")
    await expect(page.get_by_role("heading", name="Versions · 3")).to_be_visible()
    # The chain reads as a tree: v3 sits one level below v2 and is indented past it.
    await expect(page.locator(".tree-row", has=v3)).to_have_attribute("data-depth", "2")
    v2_box, v3_box = await v2.bounding_box(), await v3.bounding_box()
    assert v2_box and v3_box and v3_box["x"] > v2_box["x"] + 10 and v3_box["y"] > v2_box["y"]
    await v3.scroll_into_view_if_needed()
    await wait_loaded(page.get_by_test_id("refinement-card").locator("img"), 2)

    chain = await refinements_of(api, run_id)
    assert [(r["version"], r["status"], r["parent"]["id"]) for r in chain] == [
        (2, "COMPLETED", image_id), (3, "COMPLETED", chain[0]["id"])]
    shot = await web.screenshot("results-page.png", full_page=True)
    assert shot.stat().st_size > 10_000


async def test_an_empty_prompt_shows_the_servers_error_next_to_the_field(web: BrowserPage, api: GraphQLClient):
    """Submitting the Prompt tab empty shows the userError under the prompt; fixing it clears the error."""
    page = web.page
    run = await seed_run(api)
    await open_run(page, run["id"])
    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_test_id("submit-button").click()

    error = modal.get_by_test_id("field-error-prompt")
    await expect(error).to_be_visible()
    await expect(error).to_have_text("Please describe what to change.")
    prompt = modal.get_by_label("What to change")
    await expect(prompt).to_be_focused()  # not the Submit button
    await expect(prompt).to_have_attribute("aria-invalid", "true")
    error_id = await error.get_attribute("id")
    assert error_id and error_id in (await prompt.get_attribute("aria-describedby") or "").split()
    assert await error.evaluate("el => el.previousElementSibling?.getAttribute('aria-invalid') === 'true'")
    field_box, error_box = await prompt.bounding_box(), await error.bounding_box()
    assert field_box and error_box and 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40
    await expect(modal.get_by_test_id("field-error-form")).to_have_count(0)
    await expect(modal.get_by_test_id("refine-form")).to_be_visible()
    assert await refinements_of(api, run["id"]) == []

    await prompt.fill("brighter")
    await modal.get_by_test_id("submit-button").click()
    await expect(modal.get_by_test_id("refine-progress")).to_be_visible()
    await expect(error).to_have_count(0)
    assert [r["status"] for r in await refinements_of(api, run["id"])] == ["QUEUED"]


async def test_cancel_stops_a_queued_refinement(web: BrowserPage, api: GraphQLClient, worker_services):
    """Cancel in the progress dialog ends a job no worker has started as CANCELLED; a worker later leaves it so."""
    page = web.page
    run = await seed_run(api)
    await open_run(page, run["id"])
    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_label("What to change").fill("warmer")
    await modal.get_by_test_id("submit-button").click()
    await expect(modal.get_by_test_id("refine-progress")).to_have_attribute("data-outcome", "RUNNING")
    await expect(card(page, 2)).to_have_attribute("data-status", "QUEUED")

    await modal.get_by_test_id("cancel-button").click()
    await expect(modal.get_by_test_id("refine-progress")).to_have_attribute("data-outcome", "CANCELLED")
    await expect(modal.get_by_role("status")).to_have_text("The refinement was cancelled.")
    await expect(modal.get_by_test_id("close-button")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(modal).to_have_count(0)
    await expect(card(page, 2)).to_have_attribute("data-status", "CANCELLED")

    # The job is still in the queue; a worker that picks it up now must not run it.
    await run_worker(worker_services)
    [stored] = await refinements_of(api, run["id"])
    assert stored["status"] == "CANCELLED" and stored["url"] is None, stored
    await page.reload()
    await expect(card(page, 2)).to_have_attribute("data-status", "CANCELLED")
    await expect(card(page, 2).get_by_test_id("refine-button")).to_have_count(0)


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
        await stage.dispatch_event(kind, {"pointerId": 7, "pointerType": "touch", "isPrimary": True, "button": 0,
                                          "clientX": box["x"] + box["width"] * fraction,
                                          "clientY": box["y"] + 10, "bubbles": True})
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


async def test_axe_finds_no_serious_violation_on_runs_results_and_the_modal(
    web: BrowserPage, api: GraphQLClient, worker_services
):
    """axe-core, run in Chromium with real layout and colour contrast, passes the runs page, results page and modal."""
    page = web.page
    run = await seed_run(api)
    parent_id = run["images"][0]["id"]
    assert not (await refine(api, parent_id, prompt="warmer", mask=[{"x": 0, "y": 0, "width": 0.5, "height": 0.5}]))[
        "userErrors"]
    await run_worker(worker_services)
    queued = (await refine(api, parent_id, prompt="cooler"))["refinement"]
    cancelled = await api.data(CANCEL, {"id": queued["id"]})
    assert cancelled["cancelRefinement"]["refinement"]["status"] == "CANCELLED"

    await page.goto("/#/")
    await expect(page.get_by_test_id("run-card")).to_have_count(1)
    await wait_loaded(page.get_by_test_id("run-card").locator("img"), 1)
    await web.assert_accessible("the runs page")

    await page.get_by_role("link", name="summer poster").click()
    await expect(page.get_by_role("heading", name="Run results", level=1)).to_be_visible()
    await page.get_by_test_id("original-tile").get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Original 1", level=1)).to_be_visible()
    # Two siblings, v2 and v3: one finished, one cancelled, so both status styles are checked.
    cards = page.get_by_test_id("refinement-card")
    await expect(cards).to_have_count(2)
    # Siblings of one original never share a number: v2 and v3, both made from v1.
    assert [await cards.nth(i).get_attribute("data-version") for i in range(2)] == ["2", "3"]
    await expect(cards.nth(1).get_by_test_id("lineage")).to_have_text("· from v1")
    await expect(cards.and_(page.locator('[data-status="COMPLETED"]'))).to_have_count(1)
    await expect(cards.and_(page.locator('[data-status="CANCELLED"]'))).to_have_count(1)
    await wait_loaded(page.locator("main img"), 3)
    await web.assert_accessible("the large view")

    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await expect(modal.get_by_test_id("tab-subject")).to_be_focused()
    await wait_loaded(modal.locator("img"), 1)
    await web.assert_accessible("the refine modal (Subject repair)")
    await modal.get_by_test_id("tab-text").click()
    await modal.get_by_test_id("submit-button").click()
    await expect(modal.get_by_test_id("field-error-instructions")).to_be_visible()
    await web.assert_accessible("the refine modal with a field error")


async def test_cancel_from_the_jobs_panel_after_a_reload(web: BrowserPage, api: GraphQLClient, worker_services):
    """A job queued in the refine dialog is listed on every page after a reload and can be cancelled from there."""
    page = web.page
    run = await seed_run(api)
    await open_run(page, run["id"])
    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_label("What to change").fill("warmer")
    await modal.get_by_test_id("submit-button").click()
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


def large_png(width: int = 6000, height: int = 3000) -> bytes:
    """A photo-sized PNG (gradient with blocky grain) of a few megabytes."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    x = np.linspace(0, 240, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 240, height, dtype=np.float32)[:, None]
    grain = rng.integers(0, 8, (height // 8, width // 8), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], 2).astype(np.uint8) + grain[..., None]
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


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
    print(f"gallery images: {sum(image_bytes.values()):,} bytes in {len(image_bytes)} requests; full size {full_bytes:,}")
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
    await web.assert_accessible("the refine dialog at 390 px")
    await web.screenshot("refine-modal-mobile.png")


async def test_the_api_explorer_works_offline_sends_the_token_and_links_back(web: BrowserPage, services):
    """GraphiQL loads from the server alone (every non-loopback request is blocked), runs a query with the app's token."""
    from urllib.parse import urlsplit

    from churns_gql.services import tokens

    page = web.page
    blocked: list[str] = []

    async def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await page.context.route("**/*", only_loopback)
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
    await page.evaluate("q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)",
                        "{ me { tokenId } }")
    await page.locator(".graphiql-execute-button").click()
    await expect(page.locator(".graphiql-response")).to_contain_text(str(row.id))
    assert blocked == [], blocked
    await web.screenshot("graphiql.png")

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
