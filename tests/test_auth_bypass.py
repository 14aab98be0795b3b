"""Regression tests for the auth bypasses a black-box probe found (GET with text/html, revoked sockets, last token)."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed

from churns_gql.cli import _LOOPBACK, guard_public_bind
from churns_gql.config import Settings
from churns_gql.services import tokens
from churns_gql.services.tokens import TokenGate
from tests.conftest import WSClient, import_images, png_bytes

RUNS = "{ runs { totalCount edges { node { id prompt } } } }"


async def _token(services, name="t") -> tuple[object, str]:
    async with services.db() as session:
        row, token = await tokens.create_token(session, name)
        await session.commit()
    if services.gate is not None:
        services.gate.forget()
    return row.id, token


async def _revoke(services, token_id) -> None:
    async with services.db() as session:
        assert await tokens.revoke_token(session, token_id)
        await session.commit()
    if services.gate is not None:
        services.gate.forget()


async def test_get_with_a_query_and_accept_html_needs_a_token(client, services):
    await import_images(client, [png_bytes()])
    await _token(services)
    response = await client.http.get("/graphql", params={"query": RUNS}, headers={"accept": "text/html"})
    assert response.status_code == 401
    assert "edges" not in response.text
    for extra in ({"query": RUNS, "operationName": ""}, {"extensions": "{}", "query": RUNS}):
        sneaky = await client.http.get("/graphql", params=extra, headers={"accept": "text/html,application/json"})
        assert sneaky.status_code == 401


async def test_the_graphiql_page_is_served_without_a_token_and_carries_no_data(client, services):
    await import_images(client, [png_bytes()], prompt="secret product launch")
    await _token(services)
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "secret product launch" not in page.text


async def test_a_revoked_token_cannot_run_operations_on_its_open_socket(live_server, services):
    token_id, token = await _token(services, "a")
    await _token(services, "b")
    async with WSClient(live_server, {"authorization": f"Bearer {token}"}) as ws:
        await ws.subscribe("1", "query { runs { totalCount } }", {})
        items, _last = await ws.collect("1")
        assert items and items[0]["data"]["runs"]["totalCount"] == 0
        await _revoke(services, token_id)
        await ws.subscribe("2", "query { runs { totalCount } }", {})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.collect("2", timeout=5)
        assert closed.value.rcvd.code == 4403


async def test_a_token_revoked_by_another_process_is_refused_on_the_very_next_socket_operation(live_server, services):
    # The CLI (or another API replica) revokes: nothing tells this process's TokenGate, so no forget() here.
    token_id, token = await _token(services, "a")
    await _token(services, "b")
    async with WSClient(live_server, {"authorization": f"Bearer {token}"}) as ws:
        for op in ("1", "2"):  # two operations in a row: any per-token answer this process keeps is warm
            await ws.subscribe(op, "query { runs { totalCount } }", {})
            items, _last = await ws.collect(op)
            assert items[0]["data"]["runs"]["totalCount"] == 0
        async with services.db() as session:
            assert await tokens.revoke_token(session, token_id)
            await session.commit()
        await ws.subscribe("3", "query { runs { totalCount } }", {})
        with pytest.raises(ConnectionClosed) as closed:
            items, last = await ws.collect("3", timeout=5)
            pytest.fail(f"the revoked token ran an operation: {items} {last}")
        assert closed.value.rcvd.code == 4403


async def test_revoking_a_token_closes_its_sockets_within_5_seconds(live_server, services):
    token_id, token = await _token(services, "a")
    _other_id, other = await _token(services, "b")
    async with (
        WSClient(live_server, {"authorization": f"Bearer {token}"}) as ws,
        WSClient(live_server, {"authorization": f"Bearer {other}"}) as bystander,
    ):
        await ws.subscribe("1", 'subscription { runProgress(id: "UnVuOjA=") { seq } }', {})
        await _revoke(services, token_id)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.receive(timeout=6)
        assert closed.value.rcvd.code == 4403
        assert time.monotonic() - started < 5
        # The other token's socket stays open and usable.
        await bystander.subscribe("9", "query { __typename }", {})
        items, _last = await bystander.collect("9")
        assert items[0]["data"]["__typename"] == "Query"


async def test_an_open_socket_closes_once_auth_turns_on(live_server, services):
    async with WSClient(live_server, {}) as ws:
        await ws.subscribe("1", "query { __typename }", {})
        assert (await ws.collect("1"))[0]
        await _token(services)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.receive(timeout=6)
        assert closed.value.rcvd.code == 4403


async def test_revoking_the_last_token_keeps_auth_on(client, services):
    token_id, token = await _token(services)
    await _revoke(services, token_id)
    # Past the gate's cache, and in a process started afterwards: still closed.
    services.gate._any = None
    response = await client.http.post("/graphql", json={"query": RUNS})
    assert response.status_code == 401
    fresh = TokenGate(services.db)
    with pytest.raises(tokens.AuthRequired):
        await fresh.caller(None)


async def test_only_the_operator_reopens_auth_and_not_while_tokens_live(services):
    token_id, _token_value = await _token(services)
    async with services.db() as session:
        assert "revoke them first" in (await tokens.reopen_auth(session) or "")
    await _revoke(services, token_id)
    async with services.db() as session:
        assert await tokens.reopen_auth(session) is None
        await session.commit()
    assert await TokenGate(services.db).auth_on() is False


def test_the_auth_cli_reopens_only_after_every_token_is_revoked(services, capsys):
    from churns_gql.cli import main
    from churns_gql.config import get_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHURNS_DATABASE_URL", services.settings.database_url)
        mp.setattr("churns_gql.cli.get_settings", lambda: get_settings.__wrapped__())
        assert main(["token", "create", "ops"]) == 0
        assert main(["auth", "status"]) == 0
        assert "auth: required; 1 live token(s)" in capsys.readouterr().out
        assert main(["auth", "open"]) == 1
        assert "revoke them first" in capsys.readouterr().out


def test_a_server_bound_beyond_loopback_never_runs_open(capsys):
    public = guard_public_bind(Settings.defaults(host="0.0.0.0"), "0.0.0.0")
    assert public.require_auth is True
    assert "required" in capsys.readouterr().out
    for host in _LOOPBACK:
        assert guard_public_bind(Settings.defaults(host=host), host).require_auth is False
    # The container case: published on the host's loopback only, and said so explicitly.
    assert (
        guard_public_bind(Settings.defaults(host="0.0.0.0", allow_insecure_bind=True), "0.0.0.0").require_auth is False
    )
