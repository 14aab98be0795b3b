"""Tokens at the door (HTTP, websocket, /files), request and query limits, and masked errors."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from churns_gql.cli import bind_host
from churns_gql.config import Settings
from churns_gql.services import tokens
from tests.conftest import IMPORT_RUN, WSClient, import_images, png_bytes


async def _token(services, name="t") -> str:
    async with services.db() as session:
        _row, token = await tokens.create_token(session, name)
        await session.commit()
    services.gate.forget()
    return token


async def test_no_tokens_means_open(client):
    body = await client.execute("{ runs { totalCount } }")
    assert body["data"]["runs"]["totalCount"] == 0


async def test_once_a_token_exists_http_needs_it(client, services):
    await client.execute("{ runs { totalCount } }")  # the gate is made with the app
    token = await _token(services)
    missing = await client.http.post("/graphql", json={"query": "{ runs { totalCount } }"})
    assert missing.status_code == 401 and "Bearer" in missing.json()["errors"][0]["message"]
    wrong = await client.http.post(
        "/graphql", json={"query": "{ runs { totalCount } }"}, headers={"Authorization": "Bearer churns_nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["message"] == "the API token is not valid"
    ok = await client.http.post(
        "/graphql", json={"query": "{ runs { totalCount } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200 and ok.json()["data"]["runs"]["totalCount"] == 0
    # The GraphiQL page itself stays reachable, so a person can paste a token into it.
    assert (await client.http.get("/graphql", headers={"accept": "text/html"})).status_code == 200


async def test_files_need_a_token_once_one_exists(client, services):
    run = (await import_images(client, [png_bytes()]))["run"]
    url = run["images"][0]["url"]
    assert (await client.http.get(url)).status_code == 200
    token = await _token(services)
    assert (await client.http.get(url)).status_code == 401
    # A valid token that does not own the run sees nothing there.
    assert (await client.http.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 404


async def test_revoked_token_is_refused(client, services):
    await client.execute("{ runs { totalCount } }")
    token = await _token(services, "a")
    await _token(services, "b")  # keeps auth on after the first is revoked
    async with services.db() as session:
        row_id = await services.gate._lookup(token)
        assert await tokens.revoke_token(session, row_id)
        await session.commit()
    services.gate.forget()
    response = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_require_auth_without_any_token(client, services):
    services.gate.require = True
    services.gate.forget()
    assert (await client.http.post("/graphql", json={"query": "{ __typename }"})).status_code == 401


async def test_websocket_checks_the_token_at_connection_init(live_server, services):
    token = await _token(services)
    with pytest.raises((ConnectionClosed, AssertionError)):
        async with WSClient(live_server) as ws:
            await ws.receive(timeout=5)
    with pytest.raises((ConnectionClosed, AssertionError)):
        async with WSClient(live_server, {"authorization": "Bearer churns_wrong"}) as ws:
            await ws.receive(timeout=5)
    async with WSClient(live_server, {"authorization": f"Bearer {token}"}) as ws:
        await ws.subscribe("1", 'subscription { runProgress(id: "x") { seq } }', {})
        _items, last = await ws.collect("1")
        assert last["type"] == "error" or _items


def test_without_tokens_the_api_binds_to_loopback_only(capsys):
    assert bind_host(Settings.defaults(host="0.0.0.0"), live_tokens=0) == "127.0.0.1"
    assert "127.0.0.1 only" in capsys.readouterr().out
    assert bind_host(Settings.defaults(host="0.0.0.0"), live_tokens=1) == "0.0.0.0"
    assert bind_host(Settings.defaults(host="0.0.0.0", require_auth=True), live_tokens=0) == "0.0.0.0"
    assert bind_host(Settings.defaults(host="0.0.0.0", allow_insecure_bind=True), live_tokens=0) == "0.0.0.0"


async def test_a_declared_huge_body_is_refused_before_reading(client, services):
    headers = {
        "Content-Length": str(1024**3),
        "Apollo-Require-Preflight": "true",
        "Content-Type": "multipart/form-data; boundary=x",
    }
    reads = 0

    async def body():
        nonlocal reads
        for _ in range(1000):
            reads += 1
            yield b"x" * 65536

    response = await client.http.post("/graphql", content=body(), headers=headers)
    assert response.status_code == 413
    assert reads <= 1  # refused on the header, not after reading a gigabyte


async def test_a_streamed_body_over_the_limit_is_cut_off(client, services):

    services.settings = services.settings.with_changes(max_upload_mb=1)  # limit: 16 MB + 1 MB
    sent = 0

    async def body():
        nonlocal sent
        head = (
            b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n'
            b'--x\r\nContent-Disposition: form-data; name="0"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        yield head
        for _ in range(400):  # 25 MB if it were all read
            sent += 65536
            yield b"x" * 65536

    response = await client.http.post(
        "/graphql",
        content=body(),
        headers={"Apollo-Require-Preflight": "true", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert sent <= services.settings.max_request_bytes + 2 * 65536


async def test_a_60_mb_image_is_too_large(client, services):
    files = {"input.images.0": ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (60 * 1024 * 1024), "image/png")}
    response = await client.upload(IMPORT_RUN, {"input": {"images": [None]}}, files)
    assert response.status_code == 413 or response.json()["data"]["importRun"]["userErrors"][0]["code"] == "TOO_LARGE"
    assert not services.storage.runs_dir.exists() or list(services.storage.runs_dir.iterdir()) == []


async def test_a_100_megapixel_bomb_is_refused_without_decoding(client, services):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    width = height = 10_000  # 100 megapixels of one grey level compresses to ~100 KB
    raw = zlib.compress(b"".join(b"\0" + b"\0" * width for _ in range(height)), 9)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )
    assert len(bomb) < 1024 * 1024
    body = (
        await client.upload(IMPORT_RUN, {"input": {"images": [None]}}, {"input.images.0": ("b.png", bomb, "image/png")})
    ).json()
    (error,) = body["data"]["importRun"]["userErrors"]
    assert error["code"] == "TOO_LARGE" and "40,000,000" in error["message"]


async def test_deep_queries_and_alias_floods_are_refused(client):
    nested = "id " + "children { id " * 30 + "}" * 30
    deep = await client.execute("query { runs { edges { node { images { " + nested + " } } } } }")
    assert deep["errors"] and "exceeds maximum operation depth" in deep["errors"][0]["message"]
    aliases = " ".join(f"a{i}: __typename" for i in range(1000))
    flood = await client.execute("query { " + aliases + " }")
    assert flood["errors"] and "alias" in flood["errors"][0]["message"].lower()


async def test_101st_subscription_on_one_connection_is_refused(live_server, client):
    run = (await import_images(client, [png_bytes()]))["run"]
    query = "subscription($id: ID!) { runProgress(id: $id) { seq } }"
    async with WSClient(live_server) as ws:
        for i in range(101):
            await ws.subscribe(str(i), query, {"id": run["id"]})
        message = await ws.receive(timeout=10)
    assert message["id"] == "100" and message["type"] == "error"
    assert message["payload"] == [
        {"message": "Subscription limit reached", "extensions": {"code": "QUOTA_EXCEEDED", "limit": 100}}
    ]


@pytest.fixture
def short_documents(services):
    """At most 100 characters a document (set before live_server builds the app)."""
    services.settings = services.settings.with_changes(max_query_bytes=100)


@pytest.fixture
def one_operation_a_socket(services):
    """One operation at a time a websocket (set before live_server builds the app)."""
    services.settings = services.settings.with_changes(max_subscriptions_per_connection=1)


async def test_a_websocket_document_over_the_size_limit_is_refused_with_a_code(short_documents, live_server):
    async with WSClient(live_server) as ws:
        await ws.subscribe("1", "{ __typename }" + " " * 200, {})
        _, message = await ws.collect("1")
    assert message["type"] == "error"
    assert message["payload"] == [
        {"message": "the query is 214 characters; the limit is 100", "extensions": {"code": "QUERY_TOO_COMPLEX"}}
    ]


async def test_legacy_graphql_ws_limit_error_has_a_code(one_operation_a_socket, live_server, client):
    from websockets.asyncio.client import connect

    run = (await import_images(client, [png_bytes()]))["run"]
    start = {"query": "subscription($id: ID!) { runProgress(id: $id) { seq } }", "variables": {"id": run["id"]}}
    async with connect(live_server.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for op_id in ("a", "b"):
            await ws.send(json.dumps({"id": op_id, "type": "start", "payload": start}))
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 10))).get("id") != "b":
            pass
    assert message["type"] == "error"
    assert message["payload"] == {
        "message": "Subscription limit reached",
        "extensions": {"code": "QUOTA_EXCEEDED", "limit": 1},
    }


async def test_unexpected_errors_are_masked_with_an_id(client, services, caplog, monkeypatch):
    from churns_gql.services import runs as run_service

    async def broken(*args, **kwargs):
        raise RuntimeError("secret database detail")

    monkeypatch.setattr(run_service, "list_runs", broken)
    monkeypatch.setattr(run_service, "count_runs", broken)  # `totalCount` alone is counted without a page
    body = await client.execute("{ runs { totalCount } }")
    message = body["errors"][0]["message"]
    assert message.startswith("Unexpected error (") and "secret" not in json.dumps(body)
    error_id = body["errors"][0]["extensions"]["errorId"]
    assert error_id in message and any(error_id in r.getMessage() for r in caplog.records)


async def _as(client, token, query, variables=None):
    response = await client.http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_token_sees_only_its_own_runs(client, services, live_server):
    await client.execute("{ __typename }")
    alice, bob = await _token(services, "alice"), await _token(services, "bob")
    files = {"input.images.0": ("a.png", png_bytes(), "image/png")}
    variables = {"input": {"images": [None]}}
    response = await client.http.post(
        "/graphql",
        headers={"Apollo-Require-Preflight": "true", "Authorization": f"Bearer {alice}"},
        data={
            "operations": json.dumps({"query": IMPORT_RUN, "variables": variables}),
            "map": json.dumps({"0": ["variables.input.images.0"]}),
        },
        files={"0": files["input.images.0"]},
    )
    run = response.json()["data"]["importRun"]["run"]
    image_id, run_id = run["images"][0]["id"], run["id"]
    refine = 'mutation($p: ID!) { refineImage(input: {parentId: $p, type: PROMPT, prompt: "warmer"}) { refinement { id } userErrors { code } } }'
    ref_id = (await _as(client, alice, refine, {"p": image_id}))["data"]["refineImage"]["refinement"]["id"]

    for token, sees in ((alice, True), (bob, False)):
        data = (
            await _as(
                client,
                token,
                """query($r: ID!, $i: ID!, $f: ID!) {
            run(id: $r) { id } node(id: $i) { id } refinement(id: $f) { id } runs { totalCount } }""",
                {"r": run_id, "i": image_id, "f": ref_id},
            )
        )["data"]
        assert (data["run"] is not None, data["node"] is not None, data["refinement"] is not None) == (sees,) * 3
        assert data["runs"]["totalCount"] == (1 if sees else 0)
        file_status = (
            await client.http.get(run["images"][0]["url"], headers={"Authorization": f"Bearer {token}"})
        ).status_code
        assert file_status == (200 if sees else 404)

    assert (await _as(client, bob, refine, {"p": image_id}))["data"]["refineImage"]["userErrors"] == [
        {"code": "NOT_FOUND"}
    ]
    cancel = "mutation($id: ID!) { cancelRefinement(id: $id) { userErrors { code } } }"
    assert (await _as(client, bob, cancel, {"id": ref_id}))["data"]["cancelRefinement"]["userErrors"] == [
        {"code": "NOT_FOUND"}
    ]
    cancel_run = "mutation($id: ID!) { cancelRun(id: $id) { userErrors { code } } }"
    assert (await _as(client, bob, cancel_run, {"id": run_id}))["data"]["cancelRun"]["userErrors"] == [
        {"code": "NOT_FOUND"}
    ]

    async with WSClient(live_server, {"authorization": f"Bearer {bob}"}) as ws:
        await ws.subscribe("1", "subscription($id: ID!) { refinementProgress(id: $id) { seq } }", {"id": ref_id})
        items, last = await ws.collect("1")
    errors = last.get("payload") if last["type"] == "error" else items[0]["errors"]
    assert [e["message"] for e in errors] == ["no refinement with that id"]
    async with WSClient(live_server, {"authorization": f"Bearer {alice}"}) as ws:
        await ws.subscribe("1", "subscription($id: ID!) { refinementProgress(id: $id) { seq } }", {"id": ref_id})
        first = await ws.receive()
    assert first["type"] == "next" and first["payload"]["data"]["refinementProgress"]["seq"] == 1


async def test_unexpected_errors_in_subscriptions_are_masked_too(live_server, client, monkeypatch, caplog):
    from churns_gql import events

    async def broken(*args, **kwargs):
        raise RuntimeError("secret listener detail")
        yield  # pragma: no cover

    monkeypatch.setattr(events, "follow_run", broken)
    run = (await import_images(client, [png_bytes()]))["run"]
    async with WSClient(live_server) as ws:
        await ws.subscribe("1", "subscription($id: ID!) { runProgress(id: $id) { seq } }", {"id": run["id"]})
        items, last = await ws.collect("1")
    errors = last.get("payload") if last["type"] == "error" else items[0]["errors"]
    assert "secret" not in json.dumps(errors)
    assert errors[0]["message"].startswith("Unexpected error (")
    assert any("secret listener detail" in (r.exc_text or "") or "secret" in str(r.exc_info) for r in caplog.records)


async def test_limits_come_from_settings(services):

    from churns_gql.app import create_app

    services.settings = services.settings.with_changes(max_query_depth=3, max_aliases=2, max_query_tokens=40)
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:

        async def errors(query: str) -> list[str]:
            body = (await http.post("/graphql", json={"query": query})).json()
            return [e["message"] for e in body.get("errors") or []]

        assert await errors("{ runs { edges { node { id } } } }") == []
        assert "exceeds maximum operation depth" in (await errors("{ runs { edges { node { images { id } } } } }"))[0]
        assert "alias" in (await errors("{ a: __typename b: __typename c: __typename }"))[0].lower()
        assert "token" in (await errors("{ " + " ".join(["__typename"] * 50) + " }"))[0].lower()
