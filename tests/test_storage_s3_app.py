"""The app and the worker on S3 storage (moto on loopback): imports, jobs, refinements.json, /files and fsck."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from churns_gql.app import create_app
from churns_gql.db import make_sessionmaker
from churns_gql.graphql.context import AppServices
from churns_gql.graphql.ids import decode_id
from churns_gql.queue import JobQueue
from churns_gql.services import fsck
from churns_gql.storage import RunStorage
from tests.conftest import TEST_REDIS_URL, import_images, png_bytes, refine, run_worker


@pytest.fixture
async def services(settings, clean_db, s3_url) -> AsyncIterator[AppServices]:
    """The conftest services, with run files in a bucket instead of the data dir."""
    redis = Redis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    queue = JobQueue(settings.redis_url)
    storage = RunStorage.from_url(s3_url, settings.data_dir)
    assert not storage.is_local
    yield AppServices(settings=settings, db=make_sessionmaker(clean_db), storage=storage, queue=queue)
    await queue.close()


async def test_files_are_streamed_from_the_bucket(client, services, settings):
    source = png_bytes(640, 480)
    run = (await import_images(client, [source], metadata={"k": "v"}))["run"]
    url = run["images"][0]["url"]
    stored = await services.storage.read_bytes(decode_id(run["id"])[1], "originals/image_0.png")
    got = await client.http.get(url)
    assert got.status_code == 200 and got.content == stored and got.headers["content-type"] == "image/png"
    assert (
        got.headers["cache-control"] == "private, max-age=3600" and got.headers["x-content-type-options"] == "nosniff"
    )
    again = await client.http.get(url, headers={"if-none-match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = await client.http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(stored)) and head.content == b""
    run_uuid = url.split("/")[3]
    meta = await client.http.get(f"/files/runs/{run_uuid}/pipeline_metadata.json")
    assert meta.json() == {"k": "v"} and meta.headers["content-type"].startswith("application/json")
    assert (await client.http.get(f"/files/runs/{run_uuid}/originals/image_9.png")).status_code == 404
    # Nothing lands in the local data dir when the store is a bucket.
    assert not (settings.data_dir / "runs").exists()


async def test_thumbnails_of_bucket_files_are_made_once_and_cached_in_the_bucket(client, services):
    run = (await import_images(client, [png_bytes(640, 480)]))["run"]
    url = run["images"][0]["url"]
    small = await client.http.get(f"{url}?w=150")
    assert small.status_code == 200 and small.headers["content-type"] == "image/webp"
    assert small.content[:4] == b"RIFF" and len(small.content) < 640 * 480
    run_id = decode_id(run["id"])[1]
    cached = await services.storage.list_files(run_id, ".thumbs")
    assert len(cached) == 1 and cached[0].key.endswith(".webp")
    assert (await client.http.get(f"{url}?w=150")).content == small.content
    assert len(await services.storage.list_files(run_id, ".thumbs")) == 1
    # The cache itself is never served, and a bad width is a clear 400.
    assert (await client.http.get(f"/files/runs/{run_id}/{cached[0].key}")).status_code == 404
    assert (await client.http.get(f"{url}?w=huge")).status_code == 400


async def test_bucket_derivatives_are_bounded_and_not_counted_as_the_owners_storage(client, services, monkeypatch):
    from churns_gql import thumbnails

    run = (await import_images(client, [png_bytes(1400, 700)]))["run"]
    url = run["images"][0]["url"]
    run_id = decode_id(run["id"])[1]
    before = services.storage.runs_size([run_id])
    assert (await client.http.get(f"{url}?w=160")).status_code == 200
    [one] = await services.storage.list_files(run_id, ".thumbs")
    monkeypatch.setattr(thumbnails, "MAX_CACHE_BYTES_PER_RUN", one.size)
    for width in (320, 480, 640):
        assert (await client.http.get(f"{url}?w={width}")).status_code == 200
        assert len(await services.storage.list_files(run_id, ".thumbs")) == 1
    assert services.storage.runs_size([run_id]) == before


async def test_jobs_on_the_bucket_complete_and_index_themselves(client, services, worker_services):
    run = (await import_images(client, [png_bytes(80, 60)], metadata={"k": "v"}))["run"]
    image = run["images"][0]["id"]
    ids = [(await refine(client, image, prompt=p))["refinement"]["id"] for p in ("warmer", "cooler", "brighter")]
    assert await run_worker(worker_services) == 3
    run_uuid = run["images"][0]["url"].split("/")[3]
    index = (await client.http.get(f"/files/runs/{run_uuid}/refinements.json")).json()
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(str(decode_id(i)[1]) for i in ids)
    for entry in index["refinements"]:
        result = await client.http.get(f"/files/runs/{run_uuid}/{entry['image_path']}")
        assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
    # A refinement of a refinement reads its parent back from the bucket.
    child = await refine(client, ids[0], prompt="sharper")
    assert not child["userErrors"] and await run_worker(worker_services) == 1
    metadata = await client.data("query($id: ID!) { node(id: $id) { ... on Run { metadata } } }", {"id": run["id"]})
    assert metadata["node"]["metadata"] == {"k": "v"}
    assert (await fsck.check(services.db, services.storage, grace_s=0)).clean


async def test_readiness_names_a_missing_bucket(services, client):
    assert (await client.http.get("/readyz")).json()["storage"] == "ok"
    bucket = services.storage.store.store.config["bucket"]  # type: ignore[attr-defined]
    services.storage = RunStorage.from_url(f"s3://{bucket}-gone/churns", services.settings.data_dir)
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["postgres"] == "ok" and response.json()["storage"].startswith("unreachable")
