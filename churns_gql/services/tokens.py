"""API tokens: made once and shown once, stored as a SHA-256; HTTP checks them through a short cache.

Every change that must reach that cache (a revocation, auth switched on or re-opened) also NOTIFYs
CHANNEL in its own transaction, so each API process hears it when it commits and drops what it knew;
the cache's few seconds only bound how long an answer lives while that LISTEN connection is down.

Auth is a one-way switch: the first token turns it on (persisted in `auth_state`), and revoking every
token does not turn it off again; only an operator's `churns-gql auth open` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.models import ApiToken, AuthState
from churns_gql.services.health import is_outage
from churns_gql.services.lifecycle import utcnow

PREFIX = "churns_"
_CACHE_S = 5.0

CHANNEL = "churns_tokens"
"""The Postgres NOTIFY channel token and auth changes are announced on (payload: a token id, or AUTH_CHANGED)."""

AUTH_CHANGED = "auth"
"""The payload announcing that auth was switched on or re-opened."""

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def announce(session: AsyncSession, payload: str) -> None:
    """NOTIFY every API process of a token change; delivered only if (and when) the session commits."""
    await session.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str) -> tuple[ApiToken, str]:
    """Add a token named `name`; returns the row and the token, which is never stored or shown again."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name.strip() or "unnamed", token_hash=hash_token(token))
    session.add(row)
    await session.flush()
    await set_auth_required(session, True)
    return row, token


async def set_auth_required(session: AsyncSession, required: bool) -> None:
    """Persist whether auth is required (the single auth_state row)."""
    stmt = insert(AuthState).values(id=1, required=required, changed_at=func.now())
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[AuthState.id], set_={"required": required, "changed_at": func.now()})
    )
    await announce(session, AUTH_CHANGED)


async def auth_required(session: AsyncSession) -> bool:
    """Whether auth has been switched on (and not re-opened by an operator)."""
    return bool(await session.scalar(select(AuthState.required).where(AuthState.id == 1)))


async def live_token_count(session: AsyncSession) -> int:
    """How many tokens are not revoked."""
    return int(
        await session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))) or 0
    )


async def live_token_ids(session: AsyncSession, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are tokens that are still live."""
    if not ids:
        return set()
    rows = await session.scalars(select(ApiToken.id).where(ApiToken.id.in_(ids), ApiToken.revoked_at.is_(None)))
    return set(rows)


async def reopen_auth(session: AsyncSession) -> str | None:
    """Turn auth off again; refused (with the reason) while live tokens exist."""
    live = await live_token_count(session)
    if live:
        return f"{live} live token(s) exist: revoke them first (churns-gql token list / revoke ID)"
    await set_auth_required(session, False)
    return None


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, live or revoked, oldest first."""
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.created_at))).all())


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    """Revoke a token by id; False if there is no such live token."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    await announce(session, str(token_id))
    return True


@dataclass(frozen=True)
class Caller:
    """Who a request is: `token_id` None means auth is off and every run is visible."""

    token_id: uuid.UUID | None

    @property
    def is_open(self) -> bool:
        """True when no token is in play (auth off)."""
        return self.token_id is None


OPEN = Caller(token_id=None)


class AuthRequired(Exception):
    """The request carries no valid token while tokens are required."""


class AuthUnavailable(Exception):
    """Whether the request may pass cannot be decided: the database is unreachable."""


class TokenGate:
    """Decides, per request, whether auth is on and which token a bearer string is."""

    def __init__(self, db: async_sessionmaker[AsyncSession], *, require: bool = False) -> None:
        self.db = db
        self.require = require
        self._any: tuple[float, bool] | None = None
        self._tokens: dict[str, tuple[float, uuid.UUID | None]] = {}
        # Bumped by every forget: a lookup that started before one must not cache the answer it read.
        self._generation = 0
        # The read of the auth state under way, shared by every request that finds the cached answer old.
        self._reading: asyncio.Future[bool] | None = None

    async def auth_on(self, *, fresh: bool = False) -> bool:
        """True when auth is forced by settings or has been switched on (cached for a few seconds).

        Once on it stays on in this process even if the cache would say otherwise: only a restart after
        an operator re-opened auth turns it off, so a revoked last token never opens a running server.
        """
        if self.require:
            return True
        now = time.monotonic()
        if fresh:
            return await self._read_auth(now)
        if self._any is None or now - self._any[0] > _CACHE_S:
            # Requests arriving while one read is under way wait for it instead of each opening a session
            # (under load, every request of the moment the cache ages found it old and read it again).
            reading = self._reading
            if reading is None:
                reading = self._reading = asyncio.ensure_future(self._read_auth(now))
                reading.add_done_callback(self._read_done)
            return await asyncio.shield(reading)
        return self._any[1]

    async def _read_auth(self, now: float) -> bool:
        """Read whether auth is on and cache it, unless a change was heard meanwhile."""
        generation = self._generation
        async with self.db() as session:
            on = await auth_required(session) or await live_token_count(session) > 0
        if generation == self._generation:
            self._any = (now, on)
        if on:
            self.require = True
        return on

    def _read_done(self, reading: asyncio.Future[bool]) -> None:
        if self._reading is reading:
            self._reading = None
        if not reading.cancelled():
            reading.exception()  # seen by its waiters; retrieved here too, so none is reported as lost

    async def _lookup(self, token: str) -> uuid.UUID | None:
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._tokens.get(digest)
        if cached is not None and now - cached[0] <= _CACHE_S:
            return cached[1]
        generation = self._generation
        async with self.db() as session:
            token_id = await session.scalar(
                select(ApiToken.id).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
            )
        if generation != self._generation:
            # A change was heard while we read: our answer may predate it, so it serves this request only.
            return token_id
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[digest] = (now, token_id)
        return token_id

    async def caller(self, authorization: str | None) -> Caller:
        """The caller an Authorization value names; raises AuthRequired when auth is on and it names none,
        and AuthUnavailable when the database that knows the tokens cannot be reached."""
        try:
            return await self._caller(authorization)
        except AuthRequired:
            raise
        except Exception as exc:
            if is_outage(exc):
                raise AuthUnavailable("the database cannot be reached right now; try again") from exc
            raise

    async def _caller(self, authorization: str | None) -> Caller:
        """caller() without the outage translation."""
        if not await self.auth_on():
            return OPEN
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRequired("an API token is required: send 'Authorization: Bearer <token>'")
        token_id = await self._lookup(token.strip())
        if token_id is None:
            raise AuthRequired("the API token is not valid")
        return Caller(token_id=token_id)

    async def still_allowed(self, caller: Caller) -> bool:
        """Whether a connection authenticated earlier as `caller` may run another operation.

        A token's answer is never cached: a revocation committed anywhere (the CLI, another replica)
        refuses the very next operation, for one primary-key read per operation. An open caller has no
        token to revoke; auth turning on closes its sockets through the SocketGuard.
        """
        if caller.is_open:
            return not await self.auth_on()
        token_id = caller.token_id
        assert token_id is not None  # a caller that is not open came with a token
        async with self.db() as session:
            return bool(await live_token_ids(session, {token_id}))

    async def revoked_among(self, callers: set[Caller]) -> set[Caller]:
        """Which of `callers` are no longer allowed: revoked tokens, and open callers once auth is on."""
        ids = {c.token_id for c in callers if c.token_id is not None}
        async with self.db() as session:
            live = await live_token_ids(session, ids)
        gone = {c for c in callers if c.token_id is not None and c.token_id not in live}
        if any(c.is_open for c in callers) and await self.auth_on(fresh=True):
            gone |= {c for c in callers if c.is_open}
        return gone

    def forget(self) -> None:
        """Drop every cached answer (tokens changed, or their notifications may have been missed)."""
        self._generation += 1
        self._any = None
        # A read under way may predate the change: requests from now on start their own.
        self._reading = None
        self._tokens.clear()

    def forget_token(self, token_id: uuid.UUID) -> None:
        """Drop the cached answers naming `token_id` (it was revoked); other tokens stay cached."""
        self._generation += 1
        for digest in [d for d, (_at, cached_id) in self._tokens.items() if cached_id == token_id]:
            del self._tokens[digest]

    def heard(self, payload: str) -> None:
        """Act on a CHANNEL notification: a revoked token's id, or anything else (auth changed) drops all."""
        try:
            token_id = uuid.UUID(payload)
        except ValueError:
            self.forget()
            return
        self.forget_token(token_id)
