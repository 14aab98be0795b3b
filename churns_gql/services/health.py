"""Health probes the readiness check runs against the database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def ping_database(session: AsyncSession) -> None:
    """One round trip to Postgres; raises when it does not answer."""
    await session.execute(text("SELECT 1"))
