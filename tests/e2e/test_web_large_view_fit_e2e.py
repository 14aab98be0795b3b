"""The large view shows the whole chosen picture on the first screen, with a job queued in the panel above it."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, Page, expect

from tests.conftest import GraphQLClient, import_images, refine, run_worker
from tests.e2e.conftest import BrowserPage
from tests.e2e.helpers import card, open_run, poster_png, wait_loaded

CASES = {
    "laptop-landscape": ((1280, 800), (1200, 900)),
    "laptop-portrait": ((1280, 800), (900, 1200)),
    "phone-landscape": ((390, 844), (1200, 900)),
}


async def assert_fits(page: Page, picture: Locator, what: str) -> None:
    """The picture lies wholly inside the window and covers at least half its height or width."""
    width, height = await page.evaluate("[window.innerWidth, window.innerHeight]")
    box = await picture.bounding_box()
    assert box, what
    assert box["y"] >= 0 and box["x"] >= 0 and box["x"] + box["width"] <= width, (what, box)
    assert box["y"] + box["height"] <= height, (what, box, height)
    assert box["height"] >= height / 2 or box["width"] >= width / 2, (what, box, width, height)


@pytest.mark.parametrize("case", list(CASES))
async def test_the_chosen_picture_fits_the_window_below_a_queued_job(
    web: BrowserPage, api: GraphQLClient, worker_services, case: str
):
    """Opened from the gallery, v2 (and v2 compared with v1) is entirely on screen and large, without scrolling."""
    (width, height), (image_w, image_h) = CASES[case]
    page = web.page
    await page.set_viewport_size({"width": width, "height": height})
    payload = await import_images(api, [poster_png(image_w, image_h, seed=3)], prompt="autumn")
    assert not payload["userErrors"], payload["userErrors"]
    run = payload["run"]
    v2 = await refine(api, run["images"][0]["id"], prompt="black and white")
    assert await run_worker(worker_services) == 1
    queued = await refine(api, v2["refinement"]["id"], prompt="warmer light")
    assert not queued["userErrors"], queued["userErrors"]

    await open_run(page, run["id"])
    await expect(page.get_by_test_id("jobs-panel").get_by_test_id("job-row")).to_have_count(1)
    await card(page, 2).get_by_test_id("show-version").click()
    await expect(card(page, 2)).to_have_attribute("aria-current", "true")
    picture = page.get_by_test_id("viewer-image")
    await wait_loaded(picture, 1)
    if width >= 1000:
        assert await page.evaluate("window.scrollY") == 0  # the versions column beside the picture does not scroll
    else:
        await page.evaluate("window.scrollTo(0, 0)")  # a phone lists the versions below: back up to the picture
    await assert_fits(page, picture, f"{case}: the large image")
    await web.screenshot(f"large-view-fit-{case}.png")

    await page.get_by_test_id("compare-toggle").click()
    stage = page.get_by_test_id("compare-stage")
    await wait_loaded(stage.locator("img"), 2)
    await assert_fits(page, stage, f"{case}: the compare stage")
    await web.assert_accessible(f"the fitted large view ({case})")
