"""The token gate reads the auth state once for all the requests that find its cached answer old."""

from __future__ import annotations

import asyncio
from typing import Any

from churns_gql.services import tokens
from churns_gql.services.tokens import TokenGate


class _CountingSessions:
    """A session factory counting the sessions opened, each held a moment so that requests overlap."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return self.sessions()


async def test_concurrent_requests_share_one_read_of_the_auth_state(services):
    counting = _CountingSessions(services.db)
    gate = TokenGate(counting)  # type: ignore[arg-type]
    assert await asyncio.gather(*(gate.auth_on() for _ in range(20))) == [False] * 20
    assert counting.opened == 1
    gate._any = (gate._any[0] - 60, False)  # type: ignore[index]  # the cached answer has aged
    assert await asyncio.gather(*(gate.auth_on() for _ in range(20))) == [False] * 20
    assert counting.opened == 2


async def test_a_change_heard_during_a_read_sends_later_requests_to_a_new_read(services):
    counting = _CountingSessions(services.db)
    gate = TokenGate(counting)  # type: ignore[arg-type]
    first = asyncio.ensure_future(gate.auth_on())
    await asyncio.sleep(0)  # the first read is under way
    async with services.db() as session:
        await tokens.create_token(session, "new")
        await session.commit()
    gate.forget()  # what the hub does on hearing the token's NOTIFY
    assert await gate.auth_on() is True  # read afresh: the read under way may predate the token
    assert counting.opened == 2
    await first


async def test_a_failed_read_fails_every_waiter_and_the_next_request_reads_again(services):
    calls = 0

    def broken() -> Any:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database down")

    gate = TokenGate(broken)  # type: ignore[arg-type]
    results = await asyncio.gather(*(gate.caller(None) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, tokens.AuthUnavailable) for r in results) and calls == 1
    gate.db = services.db
    assert await gate.auth_on() is False


async def test_a_fresh_read_never_waits_for_an_older_one(services):
    counting = _CountingSessions(services.db)
    gate = TokenGate(counting)  # type: ignore[arg-type]
    older = asyncio.ensure_future(gate.auth_on())
    await asyncio.sleep(0)
    assert await gate.auth_on(fresh=True) is False
    assert counting.opened == 2
    await older
