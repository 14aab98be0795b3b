"""CORS from CHURNS_CORS_ORIGINS on /graphql and /files, and the same list for websocket Origins."""

from __future__ import annotations

import json

import httpx
import pytest

from churns_gql.app import create_app
from churns_gql.config import Settings

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with one allowed cross-origin."""
    return settings.with_changes(cors_origins=(ALLOWED, "http://localhost:5173"))


def test_the_variable_is_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("CHURNS_CORS_ORIGINS", " https://a.example , http://localhost:5173,,")
    assert Settings.from_env().cors_origins == ("https://a.example", "http://localhost:5173")
    monkeypatch.delenv("CHURNS_CORS_ORIGINS")
    assert Settings.from_env().cors_origins == ()


async def test_preflight_from_a_listed_origin_is_allowed(client):
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, apollo-require-preflight",
    }
    response = await client.http.options("/graphql", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_an_unlisted_origin_gets_no_cors_headers(client):
    preflight = await client.http.options(
        "/graphql", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    response = await client.http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": OTHER})
    assert "access-control-allow-origin" not in response.headers


async def test_graphql_and_files_answer_a_listed_origin_and_other_paths_do_not(client):
    response = await client.http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-origin"] == ALLOWED
    files = await client.http.get("/files/runs/nothing.png", headers={"Origin": ALLOWED})
    assert files.status_code == 404 and files.headers["access-control-allow-origin"] == ALLOWED
    health = await client.http.get("/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in health.headers


async def test_no_cors_headers_by_default(services):
    services.settings = services.settings.with_changes(cors_origins=())
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": ALLOWED})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


async def _handshake(base_url: str, origin: str | None) -> str:
    """connection_ack, or the refusal, of a websocket opened with the given Origin header."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url = base_url.replace("http://", "ws://") + "/graphql"
    try:
        async with connect(url, subprotocols=["graphql-transport-ws"], origin=origin) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            return json.loads(await ws.recv())["type"]
    except InvalidStatus as exc:
        return f"refused {exc.response.status_code}"


async def test_websockets_check_origin_against_the_same_list(live_server):
    assert await _handshake(live_server, ALLOWED) == "connection_ack"
    assert await _handshake(live_server, OTHER) == "refused 403"
    assert await _handshake(live_server, None) == "connection_ack"  # not a browser: nothing ambient to abuse
    assert await _handshake(live_server, live_server) == "connection_ack"  # same origin
