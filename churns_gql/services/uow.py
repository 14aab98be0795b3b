"""The transaction policy in one place: a unit of work commits or rolls back, and the files written for it follow.

Services take a session and never commit. The request boundary (a GraphQL mutation) and the job
boundary (the pipeline) open a unit of work around them; it commits when the block ends cleanly and
rolls back otherwise. A service that writes a run file registers it with `pending_files(session)`:
the file is removed when the transaction does not commit, and kept when it does. A hot path whose
few statements are its own SQL takes a `driver_unit_of_work` instead: the same policy on a pooled
asyncpg connection, without SQLAlchemy's session, execution context and result per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from churns_gql.services.errors import UserInputError
from churns_gql.storage import RunStorage

log = logging.getLogger("churns_gql.uow")

_SESSION_KEY = "churns_gql.unit_of_work"


class PendingFiles:
    """Run files written for a change that has not committed yet: removed unless it commits."""

    def __init__(self, storage: RunStorage) -> None:
        self.storage = storage
        self._paths: dict[uuid.UUID, list[str]] = {}
        self._run_dirs: list[uuid.UUID] = []

    def paths(self, run_id: uuid.UUID) -> list[str]:
        """The pending files of one run folder, as a list callers may append to and remove from."""
        return self._paths.setdefault(run_id, [])

    def add(self, run_id: uuid.UUID, relative: str) -> None:
        """Remove `relative` in the run's folder unless the change commits (register before writing)."""
        self.paths(run_id).append(relative)

    def add_run_dir(self, run_id: uuid.UUID) -> None:
        """Remove the whole run folder unless the change commits (register before creating it)."""
        self._run_dirs.append(run_id)

    def keep(self) -> None:
        """The change committed: its files stay."""
        self._paths.clear()
        self._run_dirs.clear()

    async def discard(self) -> None:
        """The change did not commit: remove every file registered for it (best effort, never raises)."""
        paths, run_dirs = self._paths, self._run_dirs
        self._paths, self._run_dirs = {}, []
        for run_id, relatives in paths.items():
            for relative in relatives:
                await self._quietly(self.storage.delete(run_id, relative), run_id, relative)
        for run_id in run_dirs:
            await self._quietly(self.storage.remove_run_dir(run_id), run_id, "")

    @staticmethod
    async def _quietly(removal: Awaitable[None], run_id: uuid.UUID, relative: str) -> None:
        """Await one removal, logging instead of raising when it fails."""
        try:
            await removal
        except Exception as exc:
            log.warning("could not remove %s/%s after a rollback: %s", run_id, relative, exc)


@dataclass
class UnitOfWork:
    """One transaction: its session and the files written for it."""

    session: AsyncSession
    files: PendingFiles | None = None


@contextlib.asynccontextmanager
async def unit_of_work(
    db: async_sessionmaker[AsyncSession], storage: RunStorage | None = None
) -> AsyncIterator[UnitOfWork]:
    """A transaction committed when the block ends cleanly; on any error (or a failed commit) it rolls
    back and the files written for it are removed. Without `storage` it takes no file writes."""
    async with db() as session:
        uow = UnitOfWork(session, PendingFiles(storage) if storage is not None else None)
        session.info[_SESSION_KEY] = uow
        try:
            async with session.begin():
                yield uow
        except BaseException:
            if uow.files is not None:
                # Shielded: a cancelled request still removes what it wrote.
                await asyncio.shield(uow.files.discard())
            raise
        finally:
            session.info.pop(_SESSION_KEY, None)
        if uow.files is not None:
            uow.files.keep()


class DriverWork:
    """One transaction on a pooled asyncpg connection, checked out on first use and begun by `open_with`, and its files.

    Statements sent before `open_with` run in autocommit, like the reader sessions' (a read needs no transaction
    under READ COMMITTED).
    """

    def __init__(self, engine: AsyncEngine, files: PendingFiles | None) -> None:
        self.engine = engine
        self.files = files
        self.raw: Any = None
        self._conn: asyncpg.Connection | None = None
        self._began = False

    async def connection(self) -> asyncpg.Connection:
        """The connection: a refusal before the first statement costs no checkout, BEGIN or ROLLBACK."""
        if self._conn is None:
            self.raw = await self.engine.raw_connection()
            self._conn = self.raw.driver_connection
        assert self._conn is not None
        return self._conn

    async def open_with(self, then: str = "") -> asyncpg.Connection:
        """Open the transaction; `then`, a statement without parameters, rides in BEGIN's message (one round trip)."""
        conn = await self.connection()
        await conn.execute(f"BEGIN; {then}" if then else "BEGIN")
        self._began = True
        return conn

    async def commit(self) -> None:
        """Commit, if the transaction was begun."""
        if self._began and self._conn is not None:
            await self._conn.execute("COMMIT")

    async def release(self, exc: BaseException | None) -> None:
        """Hand the connection back to the pool, or drop it when `exc` may have left it in an unknown state."""
        raw, self.raw = self.raw, None
        if raw is None:
            return
        conn = raw.driver_connection
        if exc is None:
            await greenlet_spawn(raw.close)
            return
        if isinstance(exc, _CLEAN_FAILURES) and conn.is_in_transaction():
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        if isinstance(exc, _LOST_CONNECTION) and not isinstance(exc, TimeoutError):
            # As SQLAlchemy does on a disconnect: Postgres restarted, so every pooled connection is stale.
            await greenlet_spawn(self.engine.sync_engine.pool._invalidate, raw, exc)
        elif isinstance(exc, _CLEAN_FAILURES) and not conn.is_in_transaction():
            await greenlet_spawn(raw.close)
        else:
            await greenlet_spawn(raw.invalidate, exc)


# A statement the server refused, or a refusal raised between statements: the connection is idle (in a
# failed or open transaction) and a ROLLBACK makes it clean. Anything else may have left a statement in
# flight (a cancellation, a timeout, a lost socket), so the connection is dropped instead of reused.
_CLEAN_FAILURES = (asyncpg.PostgresError, UserInputError)
_LOST_CONNECTION = (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError)


@contextlib.asynccontextmanager
async def driver_unit_of_work(
    db: async_sessionmaker[AsyncSession], storage: RunStorage | None = None
) -> AsyncIterator[DriverWork]:
    """unit_of_work's policy on the pool's asyncpg connection itself: committed when the block ends cleanly;
    on any error (or a failed commit) rolled back and the files written for it removed."""
    work = DriverWork(db.kw["bind"], PendingFiles(storage) if storage is not None else None)
    try:
        yield work
        await work.commit()
    except BaseException as exc:
        if work.files is not None:
            # Shielded: a cancelled request still removes what it wrote.
            await asyncio.shield(work.files.discard())
        await work.release(exc)
        raise
    if work.files is not None:
        work.files.keep()
    await work.release(None)


def pending_files(session: AsyncSession | DriverWork) -> PendingFiles:
    """The files of the unit of work `session` belongs to (or of a driver unit of work), for a service about to
    write run files."""
    if isinstance(session, DriverWork):
        files = session.files
    else:
        uow: UnitOfWork | None = session.info.get(_SESSION_KEY)
        files = uow.files if uow is not None else None
    if files is None:
        raise RuntimeError("writing run files needs a unit_of_work with storage around the session")
    return files
