"""Every page and dialog at 1280×800 and 390×844: axe passes, nothing spills sideways, a screenshot of each."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import GraphQLClient, import_images, refine, run_worker
from tests.e2e.conftest import BrowserPage
from tests.e2e.helpers import block_all_but_loopback, card, open_run, poster_png, refinements_of, tab_to, wait_loaded

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
# Blocks that touch look like one: a page's first block sits clear of the header, and sections clear of each other.
MIN_GAP = 12


async def seed_tour(api: GraphQLClient, worker_services: Any) -> dict[str, Any]:
    """Two originals, v2 done from the first, v3 queued from v2 (so the jobs panel has a row)."""
    payload = await import_images(api, [poster_png(1200, 900, seed=3), poster_png(1200, 900, seed=8)], prompt="autumn")
    assert not payload["userErrors"], payload["userErrors"]
    run = payload["run"]
    v2 = await refine(api, run["images"][0]["id"], prompt="black and white")
    assert not v2["userErrors"], v2["userErrors"]
    assert await run_worker(worker_services) == 1
    v3 = await refine(api, v2["refinement"]["id"], prompt="warmer light")
    assert not v3["userErrors"], v3["userErrors"]
    return run


async def gap_below(page: Page, upper: str, lower: str) -> float:
    """Vertical space in CSS px between the bottom of `upper` and the top of `lower`."""
    top = await page.locator(upper).first.bounding_box()
    below = await page.locator(lower).first.bounding_box()
    assert top and below, (upper, lower)
    return below["y"] - (top["y"] + top["height"])


async def check(web: BrowserPage, size: str, name: str) -> None:
    """axe, no sideways scrolling of the page, and the screenshot `{size}-{name}.png`."""
    width = SIZES[size][0]
    assert await web.page.evaluate("document.documentElement.scrollWidth") <= width, name
    await web.assert_accessible(f"{name} at {width} px")
    await web.screenshot(f"screens/{size}-{name}.png")


@pytest.mark.parametrize("size", list(SIZES))
async def test_every_page_and_dialog_passes_axe_and_is_photographed(
    web: BrowserPage, api: GraphQLClient, worker_services, services, size: str
):
    """Runs (with the jobs panel), gallery, large view, compare, refine, details, token dialog and GraphiQL."""
    page = web.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    token = None
    if size == "phone":
        # The phone goes the token's way: its jobs are the token's, images come through fetch() with the header.
        from churns_gql.services import tokens

        async with services.db() as session:
            _, token = await tokens.create_token(session, "tour")
            await session.commit()
        services.gate.forget()
        api.http.headers["Authorization"] = f"Bearer {token}"
    run = await seed_tour(api, worker_services)

    files: list[tuple[str, bool]] = []
    page.on("request", lambda r: files.append((r.url, "authorization" in r.headers)) if "/files/" in r.url else None)
    await page.goto("/#/")
    if token:
        await page.evaluate("t => localStorage.setItem('churns.apiToken', t)", token)
        await page.reload()
    await expect(page.get_by_test_id("jobs-panel").get_by_test_id("job-row")).to_have_count(1)
    await wait_loaded(page.get_by_test_id("run-card").locator("img"), 1)
    assert await gap_below(page, ".site-header", "main > *") >= MIN_GAP
    assert await gap_below(page, ".usage-panel", "#runs-list-title") >= MIN_GAP
    await check(web, size, "runs-and-jobs")

    await page.get_by_test_id("run-card").get_by_role("link").first.click()
    await expect(page.get_by_role("heading", name="Run results", level=1)).to_be_visible()
    await wait_loaded(page.get_by_test_id("original-tile").locator("img"), 2)
    # "Original 1" stays on one line however long the count beside it gets.
    titles = page.locator(".gallery-title")
    for i in range(2):
        title = await titles.nth(i).bounding_box()
        assert title and title["height"] < 30, title
    assert await gap_below(page, ".site-header", "main > *") >= MIN_GAP
    # The cost box stays compact, so on a phone the first picture starts on the first screen.
    cost = await page.get_by_test_id("cost-summary").bounding_box()
    assert cost and cost["height"] <= 110, cost
    first = await page.get_by_test_id("original-tile").first.bounding_box()
    assert first and first["y"] < height - 250, first
    # Every picture so far was a screen-sized copy, fetched with the token when one is set.
    assert files and all("?w=" in url and sent == (size == "phone") for url, sent in files), files
    await check(web, size, "gallery")

    await open_run(page, run["id"])
    await card(page, 2).get_by_test_id("show-version").click()
    await expect(card(page, 2)).to_have_attribute("aria-current", "true")
    await wait_loaded(page.get_by_test_id("viewer-image"), 1)
    await check(web, size, "large-view")
    # Download saves the full-size file of the version shown, never the screen-sized copy.
    [v2] = [r for r in await refinements_of(api, run["id"]) if r["version"] == 2]
    async with page.expect_download() as started:
        await page.get_by_test_id("download-link").click()
    download = await started.value
    assert download.suggested_filename == "original-1-v2.png"
    saved = await download.path()
    assert saved and saved.read_bytes() == (await api.http.get(v2["url"])).content

    await page.get_by_test_id("compare-toggle").click()
    await wait_loaded(page.get_by_test_id("compare-stage").locator("img"), 2)
    await page.get_by_test_id("compare-slider").focus()
    await page.keyboard.press("PageDown")
    await check(web, size, "compare")

    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await expect(modal.get_by_test_id("tab-subject")).to_be_focused()
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_test_id("draw-mask-toggle").check()
    await modal.get_by_test_id("mask-overlay").focus()
    await page.keyboard.press("Enter")
    await wait_loaded(modal.locator("img"), 1)
    # Scrolled down to the mask, the dialog still shows its title and its Close button.
    for part in (modal.get_by_role("heading", level=2).first, modal.get_by_role("button", name="Close dialog")):
        box = await part.bounding_box()
        assert box and box["y"] >= 0, box
        assert await part.evaluate(
            "el => { const r = el.getBoundingClientRect();"
            " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)?.closest('.dialog-header') !== null; }"
        )
    await check(web, size, "refine-dialog")
    await modal.get_by_role("button", name="Close").click()
    await modal.get_by_role("button", name="Discard").click()  # a drawn mask is not thrown away unasked
    await expect(modal).to_have_count(0)

    await card(page, 2).get_by_test_id("details-button").click()
    dialog = page.get_by_test_id("details-dialog")
    await expect(dialog.get_by_test_id("stages-table")).to_be_visible()
    await wait_loaded(dialog.locator(".compare-stage img"), 2)
    frame = dialog.get_by_test_id("stages-scroll")
    if await frame.evaluate("el => el.scrollWidth > el.clientWidth"):
        # A table wider than the dialog: the Tab key reaches it and the arrow keys scroll it.
        await tab_to(page, "stages-scroll", limit=40)
        await page.keyboard.press("ArrowRight")
        await page.wait_for_function("el => el.scrollLeft > 0", arg=await frame.element_handle())
    else:
        assert size == "desktop", "on a phone the stage table is wider than the dialog"
    await check(web, size, "details-dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)

    await page.get_by_test_id("token-button").click()
    await expect(page.get_by_test_id("token-dialog")).to_be_visible()
    await check(web, size, "token-dialog")
    await page.keyboard.press("Escape")

    blocked = await block_all_but_loopback(page)
    await page.goto("/graphql")
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    await expect(page.get_by_test_id("back-to-app")).to_be_visible()
    # The query and the response both get a usable width and sit inside the window (a phone stacks them).
    for pane in (".graphiql-query-editor", ".graphiql-response"):
        box = await page.locator(pane).bounding_box()
        assert box and box["width"] >= min(300, width * 0.7) and box["x"] + box["width"] <= width, (pane, box)
        assert box["y"] < height - 100, (pane, box)
    await check(web, size, "graphiql")
    assert blocked == [], blocked


def test_the_readme_shows_the_committed_screenshots_of_both_sizes():
    """Every screenshot the README links is in docs/screenshots, each there is linked, both sizes appear."""
    import re

    from tests.conftest import ROOT

    linked = set(re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", (ROOT / "README.md").read_text()))
    present = {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert linked == present, linked ^ present
    for size in SIZES:
        assert any(f"/{size}-" in name for name in linked), size
