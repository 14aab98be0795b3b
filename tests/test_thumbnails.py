"""/files?w=N: resized WebP copies made once, cached in the run's .thumbs folder, with ETag and private caching."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import import_images

ARTIFACTS = Path(__file__).parent / "artifacts"


def photo_png(width: int, height: int) -> bytes:
    """A gradient with noise: compresses like a photo, so a full-size copy is large."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + rng.normal(0, 18, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "PNG", compress_level=1)
    return out.getvalue()


async def test_a_resized_copy_is_made_once_and_revalidated_by_etag(client, services):
    run = (await import_images(client, [photo_png(2000, 1000)]))["run"]
    url = run["images"][0]["url"]
    full = await client.http.get(url)
    first = await client.http.get(url, params={"w": "480"})
    assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
    assert first.headers["cache-control"] == "private, max-age=3600"
    with Image.open(io.BytesIO(first.content)) as small:
        assert small.size == (480, 240)
        ARTIFACTS.mkdir(exist_ok=True)
        small.save(ARTIFACTS / "thumbnail-480.png")
    assert len(first.content) * 20 < len(full.content), (len(first.content), len(full.content))

    run_dir = services.storage.runs_dir / url.split("/")[3]
    [cached] = list((run_dir / ".thumbs").iterdir())
    made_at = cached.stat().st_mtime_ns
    again = await client.http.get(url, params={"w": "480"})
    assert again.content == first.content and cached.stat().st_mtime_ns == made_at
    etag = first.headers["etag"]
    assert again.headers["etag"] == etag
    unchanged = await client.http.get(url, params={"w": "480"}, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag and unchanged.headers["cache-control"].startswith("private")


async def test_widths_snap_to_the_offered_list_and_never_upscale(client, services):
    run = (await import_images(client, [photo_png(1000, 500)]))["run"]
    url = run["images"][0]["url"]
    snapped = await client.http.get(url, params={"w": "300"})
    with Image.open(io.BytesIO(snapped.content)) as small:
        assert small.size == (320, 160)
    whole = await client.http.get(url, params={"w": "1920"})
    assert whole.headers["content-type"] == "image/png" and whole.content == (await client.http.get(url)).content
    for bad in ("abc", "0", "-5", "1e9"):
        response = await client.http.get(url, params={"w": bad})
        assert response.status_code == 400 and "w must be" in response.text, bad


async def test_the_cache_folder_is_not_served_directly(client, services):
    run = (await import_images(client, [photo_png(800, 400)]))["run"]
    url = run["images"][0]["url"]
    assert (await client.http.get(url, params={"w": "160"})).status_code == 200
    run_id = url.split("/")[3]
    [cached] = list((services.storage.runs_dir / run_id / ".thumbs").iterdir())
    assert (await client.http.get(f"/files/runs/{run_id}/.thumbs/{cached.name}")).status_code == 404
