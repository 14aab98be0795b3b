"""A token revoked anywhere (the CLI, another replica) is refused over HTTP at once, cache or not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
from sqlalchemy import text

from churns_gql.events import hub as hub_module
from churns_gql.services import tokens
from churns_gql.services.tokens import TokenGate

ROOT = Path(__file__).resolve().parents[1]
QUERY = {"query": "{ runs { totalCount } }"}


async def _token(services, name: str) -> tuple[object, str]:
    async with services.db() as session:
        row, token = await tokens.create_token(session, name)
        await session.commit()
    return row.id, token


async def _status(http: httpx.AsyncClient, token: str) -> int:
    response = await http.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def _refused_within(http: httpx.AsyncClient, token: str, seconds: float) -> float | None:
    """Seconds until `token` is refused (401), or None if it still passes after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        status = await _status(http, token)
        if status == 401:
            return time.monotonic() - started
        assert status == 200, status
        await asyncio.sleep(0.02)
    return None


def _cli_revoke(services, token_id) -> None:
    """`churns-gql token revoke ID` in its own process, exactly as an operator runs it."""
    env = {**os.environ, "CHURNS_DATABASE_URL": services.settings.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "churns_gql.cli", "token", "revoke", str(token_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "revoked" in result.stdout, result.stdout + result.stderr


async def test_a_token_revoked_by_the_cli_is_refused_over_http_within_a_second(live_server, services, monkeypatch):
    # A long cache life: only the notification, never expiry (however slow the CLI starts), can refuse the token.
    monkeypatch.setattr(tokens, "_CACHE_S", 60.0)
    token_id, token = await _token(services, "a")
    _other_id, other = await _token(services, "b")  # keeps auth on once the first is revoked
    async with httpx.AsyncClient(base_url=live_server) as http:
        assert await _status(http, token) == 200
        assert await _status(http, token) == 200  # now answered from the gate's cache
        await asyncio.to_thread(_cli_revoke, services, token_id)
        # Nobody calls this process's gate.forget(): only the NOTIFY the CLI's commit sent can tell it.
        took = await _refused_within(http, token, 1.0)
        assert took is not None, "the revoked token still passed over HTTP a second after the CLI revoked it"
        assert await _status(http, other) == 200


async def test_a_token_created_elsewhere_closes_an_open_server_at_once(live_server, services):
    async with httpx.AsyncClient(base_url=live_server) as http:
        assert (await http.post("/graphql", json=QUERY)).status_code == 200  # open, and cached as open
        await _token(services, "first")  # another replica or the CLI: this process's gate is not told directly
        started = time.monotonic()
        while (await http.post("/graphql", json=QUERY)).status_code == 200:
            assert time.monotonic() - started < 1.0, "the server stayed open after the first token was created"
            await asyncio.sleep(0.02)
        assert (await http.post("/graphql", json=QUERY)).status_code == 401


async def test_a_revocation_missed_while_the_listener_was_down_is_not_served_from_the_cache(
    live_server, services, monkeypatch
):
    monkeypatch.setattr(tokens, "_CACHE_S", 60.0)  # however slow this test runs, the cached answer is still there
    token_id, token = await _token(services, "a")
    await _token(services, "b")
    hub = services.hub
    release = asyncio.Event()
    real_connect = hub_module.asyncpg.connect

    async def held_connect(*args, **kwargs):
        await release.wait()  # hold the reconnect until the revocation has been committed unheard
        return await real_connect(*args, **kwargs)

    async with httpx.AsyncClient(base_url=live_server) as http:
        assert await _status(http, token) == 200  # cached from here on
        # Only the hub's reconnects are held: the app's own pool keeps using asyncpg as it is.
        monkeypatch.setattr(hub_module, "asyncpg", SimpleNamespace(connect=held_connect))
        async with services.db() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'"
                )
            )
        for _ in range(200):
            if not hub.connected.is_set():
                break
            await asyncio.sleep(0.01)
        assert not hub.connected.is_set()
        async with services.db() as session:  # another replica revokes; its NOTIFY reaches nobody here
            assert await tokens.revoke_token(session, token_id)
            await session.commit()
        assert await _status(http, token) == 200  # the listener is down: the cache still answers (for ≤ 5 s)
        release.set()
        await asyncio.wait_for(hub.connected.wait(), 5)
        # Back and listening: whatever the cache knew may be stale, so the very next request asks the database.
        assert await _status(http, token) == 401


async def test_valid_tokens_stay_cached_and_one_revocation_drops_only_its_token(services, count_queries):
    a_id, a = await _token(services, "a")
    b_id, b = await _token(services, "b")
    gate = TokenGate(services.db)
    for token in (a, b):
        assert (await gate.caller(f"Bearer {token}")).token_id in (a_id, b_id)
    before = count_queries.count
    for _ in range(5):
        assert (await gate.caller(f"Bearer {a}")).token_id == a_id
    assert count_queries.count == before  # the cache's speed for valid tokens is kept
    gate.heard(str(b_id))
    assert (await gate.caller(f"Bearer {a}")).token_id == a_id
    assert count_queries.count == before  # a's answer survives b's revocation
    gate.heard(str(a_id))
    assert (await gate.caller(f"Bearer {a}")).token_id == a_id  # not revoked in the database: asked again
    assert count_queries.count == before + 1
    gate.heard(tokens.AUTH_CHANGED)
    assert gate._tokens == {} and gate._any is None


async def test_a_lookup_that_races_a_revocation_does_not_cache_its_stale_answer(services):
    a_id, a = await _token(services, "a")
    gate = TokenGate(services.db)
    await gate.auth_on()
    real_db = gate.db

    class HeardMidRead:
        """A session factory whose session hears a revocation of `a` while the lookup is in flight."""

        def __call__(self):
            self.inner = real_db()
            return self

        async def __aenter__(self):
            session = await self.inner.__aenter__()
            gate.heard(str(a_id))
            return session

        async def __aexit__(self, *exc):
            return await self.inner.__aexit__(*exc)

    gate.db = HeardMidRead()  # type: ignore[assignment]
    assert (await gate.caller(f"Bearer {a}")).token_id == a_id
    assert gate._tokens == {}  # the answer read before the revocation was heard serves that request only
