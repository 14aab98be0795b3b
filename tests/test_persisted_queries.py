"""Automatic persisted queries (register, hit, miss, mismatch) over POST, GET and websockets; trusted documents."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from churns_gql.app import create_app
from churns_gql.graphql.persisted import KEY_PREFIX, document_hash, load_manifest
from tests.conftest import TEST_REDIS_URL, WSClient

QUERY = "query Count { runs { totalCount } }"
HASH = document_hash(QUERY)


def _pq(digest: str = HASH, version: int = 1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def _get_params(digest: str = HASH, query: str | None = None) -> dict[str, str]:
    params = {"extensions": json.dumps(_pq(digest))}
    if query is not None:
        params["query"] = query
    return params


async def test_post_miss_then_register_then_hit(client):
    miss = await client.http.post("/graphql", json={"extensions": _pq()})
    assert miss.status_code == 200 and miss.headers["cache-control"].startswith("private, no-cache")
    assert miss.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    registered = await client.http.post("/graphql", json={"query": QUERY, "extensions": _pq()})
    assert registered.json() == {"data": {"runs": {"totalCount": 0}}}
    redis = Redis.from_url(TEST_REDIS_URL)
    try:
        assert 0 < await redis.ttl(KEY_PREFIX + HASH) <= 86_400
    finally:
        await redis.aclose()
    hit = await client.http.post("/graphql", json={"extensions": _pq()})
    assert hit.json() == {"data": {"runs": {"totalCount": 0}}}


async def test_get_miss_register_and_hit(client):
    miss = await client.http.get("/graphql", params=_get_params())
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await client.http.get("/graphql", params=_get_params(query=QUERY))
    assert registered.json()["data"] == {"runs": {"totalCount": 0}}
    hit = await client.http.get("/graphql", params=_get_params())
    assert hit.status_code == 200 and hit.json()["data"] == {"runs": {"totalCount": 0}}


async def test_a_hit_keeps_get_mutations_refused(client):
    mutation = 'mutation { cancelRun(id: "x") { userErrors { code } } }'
    await client.http.post("/graphql", json={"query": mutation, "extensions": _pq(document_hash(mutation))})
    refused = await client.http.get("/graphql", params=_get_params(document_hash(mutation)))
    assert refused.status_code == 405


async def test_hash_mismatch_and_bad_versions_are_bad_requests(client):
    wrong = await client.http.post("/graphql", json={"query": QUERY, "extensions": _pq("0" * 64)})
    assert wrong.status_code == 400
    assert wrong.json()["errors"] == [
        {"message": "provided sha does not match query", "extensions": {"code": "BAD_REQUEST"}}
    ]
    # Nothing was registered under the wrong hash.
    still_missing = await client.http.post("/graphql", json={"extensions": _pq("0" * 64)})
    assert still_missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    version = await client.http.post("/graphql", json={"query": QUERY, "extensions": _pq(version=2)})
    assert version.status_code == 400 and version.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    shape = await client.http.post(
        "/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}}}
    )
    assert shape.status_code == 400 and shape.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_documents_over_the_size_limit_are_not_stored(services):
    services.settings = services.settings.with_changes(max_query_bytes=200)
    app = create_app(services=services)
    big = "query Big { runs { totalCount } }" + " " * 300
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        refused = await http.post("/graphql", json={"query": big, "extensions": _pq(document_hash(big))})
        assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        miss = await http.post("/graphql", json={"extensions": _pq(document_hash(big))})
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_websocket_miss_register_hit_and_mismatch(live_server):
    async with WSClient(live_server) as ws:
        await ws.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"extensions": _pq()}}))
        _, miss = await ws.collect("1")
        assert miss["type"] == "error"
        assert miss["payload"] == [
            {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
        ]
        await ws.ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": QUERY, "extensions": _pq()}}))
        items, done = await ws.collect("2")
        assert items == [{"data": {"runs": {"totalCount": 0}}}] and done["type"] == "complete"
        await ws.ws.send(json.dumps({"id": "3", "type": "subscribe", "payload": {"extensions": _pq()}}))
        items, done = await ws.collect("3")
        assert items == [{"data": {"runs": {"totalCount": 0}}}] and done["type"] == "complete"
        await ws.ws.send(
            json.dumps({"id": "4", "type": "subscribe", "payload": {"query": QUERY, "extensions": _pq("1" * 64)}})
        )
        _, wrong = await ws.collect("4")
        assert wrong["type"] == "error" and wrong["payload"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({f"sha256:{HASH}": QUERY}))
    return path


@pytest.fixture
async def trusted_app(services, manifest):
    services.settings = services.settings.with_changes(trusted_documents=manifest)
    return create_app(services=services)


async def test_trusted_mode_runs_the_manifest_by_hash_or_text(trusted_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusted_app), base_url="http://test") as http:
        by_hash = await http.post("/graphql", json={"extensions": _pq()})
        assert by_hash.json() == {"data": {"runs": {"totalCount": 0}}}
        by_text = await http.post("/graphql", json={"query": QUERY})
        assert by_text.json() == {"data": {"runs": {"totalCount": 0}}}


async def test_trusted_mode_refuses_other_documents(trusted_app):
    other = "{ __typename }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusted_app), base_url="http://test") as http:
        plain = await http.post("/graphql", json={"query": other})
        assert plain.status_code == 403
        assert plain.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # Registering is refused too, so the miss that follows stays a miss.
        register = await http.post("/graphql", json={"query": other, "extensions": _pq(document_hash(other))})
        assert register.status_code == 403 and register.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        miss = await http.post("/graphql", json={"extensions": _pq(document_hash(other))})
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        get = await http.get("/graphql", params={"query": other})
        assert get.status_code == 403


async def test_trusted_mode_over_websocket(services, manifest, live_server):
    services.documents.trusted = load_manifest(manifest)
    async with WSClient(live_server) as ws:
        await ws.subscribe("1", "{ __typename }", {})
        _, refused = await ws.collect("1")
        assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        await ws.ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"extensions": _pq()}}))
        items, done = await ws.collect("2")
        assert items == [{"data": {"runs": {"totalCount": 0}}}] and done["type"] == "complete"


def test_a_manifest_entry_must_hash_to_its_document(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0" * 64: QUERY}))
    with pytest.raises(ValueError, match="not the SHA-256"):
        load_manifest(path)


def test_the_web_clients_manifest_is_well_formed_and_valid_against_the_schema():
    from graphql import parse, validate

    from churns_gql.graphql.schema import schema

    manifest = load_manifest(Path(__file__).resolve().parent.parent / "web" / "trusted-documents.json")
    assert len(manifest) >= 10
    for document in manifest.values():
        assert validate(schema._schema, parse(document)) == [], document
