"""The web client in headless Chromium against the real server, worker and offline provider."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import GraphQLClient, png_bytes, refine, run_worker
from tests.e2e.conftest import BrowserPage, WorkerControl
from tests.e2e.helpers import (
    CANCEL,
    RECORD_PROGRESS,
    RED,
    card,
    import_run_images,
    open_run,
    press,
    refine_from_viewer,
    refinements_of,
    seed_run,
    tab_to,
    wait_loaded,
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
    ring = await overlay.evaluate(
        "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth, getComputedStyle(el).boxShadow]"
    )
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
    on_screen = {
        "x": (drawn["x"] - stage["x"]) / stage["width"],
        "y": (drawn["y"] - stage["y"]) / stage["height"],
        "width": drawn["width"] / stage["width"],
        "height": drawn["height"] / stage["height"],
    }
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
        (2, "COMPLETED", image_id),
        (3, "COMPLETED", chain[0]["id"]),
    ]
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
    modal = await refine_from_viewer(page, "warmer")
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


async def test_axe_finds_no_serious_violation_on_runs_results_and_the_modal(
    web: BrowserPage, api: GraphQLClient, worker_services
):
    """axe-core, run in Chromium with real layout and colour contrast, passes the runs page, results page and modal."""
    page = web.page
    run = await seed_run(api)
    parent_id = run["images"][0]["id"]
    assert not (await refine(api, parent_id, prompt="warmer", mask=[{"x": 0, "y": 0, "width": 0.5, "height": 0.5}]))[
        "userErrors"
    ]
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
