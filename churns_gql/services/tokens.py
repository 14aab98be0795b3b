"""API tokens: made once and shown once, stored as a SHA-256, checked with a short in-process cache."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.models import ApiToken
from churns_gql.services.lifecycle import utcnow

PREFIX = "churns_"
_CACHE_S = 5.0


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str) -> tuple[ApiToken, str]:
    """Add a token named `name`; returns the row and the token, which is never stored or shown again."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name.strip() or "unnamed", token_hash=hash_token(token))
    session.add(row)
    await session.flush()
    return row, token


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    """Revoke a token by id; False if there is no such live token."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
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


class TokenGate:
    """Decides, per request, whether auth is on and which token a bearer string is."""

    def __init__(self, db: async_sessionmaker[AsyncSession], *, require: bool = False) -> None:
        self.db = db
        self.require = require
        self._any: tuple[float, bool] | None = None
        self._tokens: dict[str, tuple[float, uuid.UUID | None]] = {}

    async def auth_on(self) -> bool:
        """True when CHURNS_REQUIRE_AUTH is set or any live token exists (cached for a few seconds)."""
        if self.require:
            return True
        now = time.monotonic()
        if self._any is None or now - self._any[0] > _CACHE_S:
            async with self.db() as session:
                count = await session.scalar(
                    select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
                )
            self._any = (now, bool(count))
        return self._any[1]

    async def _lookup(self, token: str) -> uuid.UUID | None:
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._tokens.get(digest)
        if cached is not None and now - cached[0] <= _CACHE_S:
            return cached[1]
        async with self.db() as session:
            token_id = await session.scalar(
                select(ApiToken.id).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
            )
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[digest] = (now, token_id)
        return token_id

    async def caller(self, authorization: str | None) -> Caller:
        """The caller an Authorization value names; raises AuthRequired when auth is on and it names none."""
        if not await self.auth_on():
            return OPEN
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRequired("an API token is required: send 'Authorization: Bearer <token>'")
        token_id = await self._lookup(token.strip())
        if token_id is None:
            raise AuthRequired("the API token is not valid")
        return Caller(token_id=token_id)

    def forget(self) -> None:
        """Drop cached answers (after tokens change in this process)."""
        self._any = None
        self._tokens.clear()
