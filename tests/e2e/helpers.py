"""Shared helpers of the browser tests: seeding runs through the API and finding things on the page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Locator, Page, expect

from tests.conftest import GraphQLClient, import_images, png_bytes

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


async def refine_from_viewer(page: Page, prompt: str) -> Locator:
    """Open the refine dialog from the large view, queue a PROMPT refinement; returns the dialog."""
    await page.get_by_test_id("viewer-refine").click()
    modal = page.get_by_test_id("modal")
    await modal.get_by_test_id("tab-prompt").click()
    await modal.get_by_label("What to change").fill(prompt)
    await modal.get_by_test_id("submit-button").click()
    return modal


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


def large_png(width: int = 6000, height: int = 3000) -> bytes:
    """A photo-sized PNG of a few megabytes with detail at every scale, so a thumbnail of it is not trivially small.

    Patches of colour 24-400 px wide stay visible in a 480 px thumbnail (as a photo's shapes and texture do); the fine
    grain makes the full-size file large.
    """
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    x = np.linspace(0, 240, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 240, height, dtype=np.float32)[:, None]
    grain = rng.integers(0, 8, (height // 8, width // 8), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], 2) + grain[..., None]
    for cell in (400, 100, 24):
        patches = rng.integers(0, 48, (height // cell + 1, width // cell + 1, 3)).repeat(cell, 0).repeat(cell, 1)
        pixels = pixels + patches[:height, :width]
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def poster_png(width: int, height: int, seed: int) -> bytes:
    """A picture with shapes and a gradient, so screenshots show images rather than flat colour."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(40, 230, 3), rng.integers(20, 200, 3)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    pixels = (top * (1 - ramp) + bottom * ramp).repeat(width, 1).astype(np.uint8)
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(height // 12, height // 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    draw.rectangle((width // 10, height * 7 // 10, width * 9 // 10, height * 17 // 20), fill=(250, 250, 245))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


async def block_all_but_loopback(page: Page) -> list[str]:
    """Abort every request that leaves the machine (as with no network); the aborted URLs are listed."""
    blocked: list[str] = []

    async def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await page.context.route("**/*", only_loopback)
    return blocked
