"""Health probes the readiness check runs against the database, and what counts as a backing service being away."""

from __future__ import annotations

import errno

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

# asyncpg's own errors for a server that is down, restarting or refusing more clients. InterfaceError
# ("connection is closed") is what a statement run on the driver directly meets after a restart; through
# SQLAlchemy it arrives wrapped in sqlalchemy's InterfaceError, counted below all the same.
_ASYNCPG_OUTAGES = (
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidCatalogNameError,
)
# A disk (or a user's quota on it) with no room left: the storage is away until someone frees space.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


async def ping_database(session: AsyncSession) -> None:
    """One round trip to Postgres; raises when it does not answer."""
    await session.execute(text("SELECT 1"))


def is_outage(exc: BaseException | None) -> bool:
    """Whether an error means Postgres could not be reached (down, restarting, full), not a bug to mask."""
    while exc is not None:
        if isinstance(exc, (ConnectionError, TimeoutError, *_ASYNCPG_OUTAGES)):
            return True
        if isinstance(exc, (OperationalError, InterfaceError)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether an error means the data disk has no room left (ENOSPC, EDQUOT), not a bug to mask."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
