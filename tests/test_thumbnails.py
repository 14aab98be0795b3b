"""/files?w=N: resized WebP copies made once, cached in the run's .thumbs folder, with ETag and private caching."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from churns_gql import thumbnails
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


async def test_a_width_on_a_file_that_is_no_picture_serves_the_file(client, services):
    run = (await import_images(client, [photo_png(800, 400)], metadata={"k": "v"}))["run"]
    run_id = run["images"][0]["url"].split("/")[3]
    meta = await client.http.get(f"/files/runs/{run_id}/pipeline_metadata.json", params={"w": "160"})
    assert meta.status_code == 200 and meta.json() == {"k": "v"}
    broken = services.storage.runs_dir / run_id / "originals" / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    served = await client.http.get(f"/files/runs/{run_id}/originals/broken.png", params={"w": "160"})
    assert served.status_code == 200 and served.content == b"\x89PNG not really"


async def test_derivatives_do_not_count_toward_the_owners_storage(client, services):
    run = (await import_images(client, [photo_png(2000, 1000)]))["run"]
    url = run["images"][0]["url"]
    run_id = uuid.UUID(url.split("/")[3])
    before = services.storage.runs_size([run_id])
    for width in thumbnails.WIDTHS:
        assert (await client.http.get(url, params={"w": str(width)})).status_code == 200
    cached = sum(p.stat().st_size for p in (services.storage.runs_dir / str(run_id) / ".thumbs").iterdir())
    assert cached > 100_000, cached  # the derivatives are real and big enough to matter
    assert services.storage.runs_size([run_id]) == before


async def test_a_runs_derivatives_stay_bounded_and_come_back_when_asked_again(client, services, monkeypatch):
    run = (await import_images(client, [photo_png(2000, 1000)]))["run"]
    url = run["images"][0]["url"]
    cache = services.storage.runs_dir / url.split("/")[3] / ".thumbs"
    first = (await client.http.get(url, params={"w": "160"})).content
    one = sum(p.stat().st_size for p in cache.iterdir())
    # Room for about three small ones: older derivatives go as new ones are made.
    monkeypatch.setattr(thumbnails, "MAX_CACHE_BYTES_PER_RUN", 3 * one)
    for width in (320, 480, 640, 960, 1280, 1920):
        assert (await client.http.get(url, params={"w": str(width)})).status_code == 200
        sizes = [p.stat().st_size for p in cache.glob("*.webp")]
        # Never more than the bound, except the one just made when it alone is larger.
        assert sum(sizes) <= 3 * one or len(sizes) == 1, (width, sizes)
    assert len(list(cache.glob("*.webp"))) < len(thumbnails.WIDTHS)
    again = await client.http.get(url, params={"w": "160"})
    assert again.status_code == 200 and again.headers["content-type"] == "image/webp"
    assert again.content == first


async def test_a_hit_marks_a_derivative_recently_used(client, services, monkeypatch):
    run = (await import_images(client, [photo_png(1000, 500)]))["run"]
    url = run["images"][0]["url"]
    cache = services.storage.runs_dir / url.split("/")[3] / ".thumbs"
    await client.http.get(url, params={"w": "160"})
    await client.http.get(url, params={"w": "320"})
    old, new = sorted(cache.glob("*.webp"), key=lambda p: p.stat().st_size)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(new, (time.time() - 3600 * 1.5, time.time() - 3600 * 1.5))
    await client.http.get(url, params={"w": "160"})  # the older one is used again: it is no longer the oldest
    # Room for one less byte than both: exactly one goes, and it is the one used least recently.
    monkeypatch.setattr(thumbnails, "MAX_CACHE_BYTES_PER_RUN", old.stat().st_size + new.stat().st_size - 1)
    assert thumbnails.trim(cache, cache / "just-made.webp") == 1
    assert old.exists() and not new.exists()


def test_evictions_take_the_least_recently_used_first_and_never_the_new_one():
    entries = [("a", 10, 3.0), ("b", 10, 1.0), ("c", 10, 2.0), ("new", 50, 0.5)]
    assert thumbnails.evictions(entries, "new", 50) == ["b", "c", "a"]
    assert thumbnails.evictions(entries, "new", 60) == ["b", "c"]
    assert thumbnails.evictions(entries, "new", 80) == []
    assert thumbnails.evictions(entries, "new", 10) == ["b", "c", "a"]  # the new one stays even over the bound
