"""/files serves run files with the right type and nothing outside the data dir."""

from __future__ import annotations

import os

import httpx
import pytest

from churns_gql.app import create_app
from tests.conftest import import_images, png_bytes


async def test_serves_png_and_json_with_their_types(client):
    run = (await import_images(client, [png_bytes()], metadata={"k": "v"}))["run"]
    image = await client.http.get(run["images"][0]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    run_uuid = run["images"][0]["url"].split("/")[3]
    meta = await client.http.get(f"/files/runs/{run_uuid}/pipeline_metadata.json")
    assert meta.status_code == 200 and meta.headers["content-type"].startswith("application/json")
    assert meta.json() == {"k": "v"}
    assert (await client.http.get(f"/files/runs/{run_uuid}/originals/image_9.png")).status_code == 404


async def _raw_get(services, raw_path: bytes) -> int:
    """Send a request whose path is not normalised by the client, as an attacker would."""
    app = create_app(services=services)
    status: list[int] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    path = raw_path.decode("latin-1")
    from urllib.parse import unquote

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "raw_path": raw_path,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return status[0]


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/files/runs/../../etc/passwd",
        b"/files/runs/%2e%2e/%2e%2e/etc/passwd",
        b"/files/runs/%2E%2E%2F%2E%2E%2Fsecret.txt",
        b"/files//etc/passwd",
        b"/files/%2Fetc%2Fpasswd",
        b"/files/secret.txt",
        b"/files/runs/..%2f..%2fsecret.txt",
        b"/files/runs/",
        b"/files/runs/%00",
    ],
)
async def test_traversal_attempts_are_404(services, raw_path):
    services.storage.data_dir.mkdir(parents=True, exist_ok=True)
    (services.storage.data_dir / "secret.txt").write_text("top secret")
    (services.storage.runs_dir).mkdir(parents=True, exist_ok=True)
    assert await _raw_get(services, raw_path) == 404


async def test_symlink_out_of_the_data_dir_is_404(client, services, tmp_path):
    run = (await import_images(client, [png_bytes()]))["run"]
    run_uuid = run["images"][0]["url"].split("/")[3]
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    os.symlink(outside, services.storage.run_dir(run_uuid) / "originals" / "link.png")
    assert (await client.http.get(f"/files/runs/{run_uuid}/originals/link.png")).status_code == 404
    # A symlink that stays inside the data dir is fine.
    os.symlink(
        services.storage.run_dir(run_uuid) / "originals" / "image_0.png",
        services.storage.run_dir(run_uuid) / "originals" / "alias.png",
    )
    assert (await client.http.get(f"/files/runs/{run_uuid}/originals/alias.png")).status_code == 200


async def test_health_and_readiness(client):
    assert (await client.http.get("/healthz")).json() == {"status": "ok"}
    ready = await client.http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "postgres": "ok",
        "redis": "ok",
        "storage": "ok",
    }


async def test_readiness_names_what_is_down(services):

    services.settings = services.settings.with_changes(redis_url="redis://127.0.0.1:1/0")
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["postgres"] == "ok" and response.json()["redis"].startswith("unreachable")


async def test_graphiql_is_served(client):
    response = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()
