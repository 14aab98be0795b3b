"""The per-request GraphQL context: shared app services plus fresh DataLoaders."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from churns_gql.config import Settings
from churns_gql.db import make_reader
from churns_gql.graphql.loaders import Loaders, make_loaders
from churns_gql.services.tokens import OPEN, Caller
from churns_gql.services.uow import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from churns_gql.storage import RunStorage


@dataclass
class AppServices:
    """What every request shares: settings, the database, run storage, the job queue, the event hub, tokens and
    persisted documents."""

    settings: Settings
    db: async_sessionmaker[AsyncSession]
    storage: RunStorage
    queue: Any = None
    hub: Any = None
    gate: Any = None
    socket_guard: Any = None
    documents: Any = None
    _reader: tuple[Any, Any, Any] | None = field(default=None, init=False, repr=False)

    def reader(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for plain reads: the same pool in autocommit, so no BEGIN or ROLLBACK round trips."""
        reader: async_sessionmaker[AsyncSession] = self._readers()[1]
        return reader

    def read_engine(self) -> AsyncEngine:
        """The same pool in autocommit, for a read that needs a connection and no ORM session."""
        engine: AsyncEngine = self._readers()[2]
        return engine

    def _readers(self) -> tuple[Any, Any, Any]:
        if self._reader is None or self._reader[0] is not self.db:
            reader = make_reader(self.db)
            self._reader = (self.db, reader, reader.kw["bind"])
        return self._reader


@dataclass
class Context:
    """Context of one HTTP request or one websocket connection."""

    services: AppServices
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    caller: Caller = OPEN
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The request's DataLoaders, made on first use: most requests never load through one."""
        if self._loaders is None:
            self._loaders = make_loaders(self.services.db)
        return self._loaders

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """The request's transaction: committed when the block ends cleanly, files removed when it does not."""
        return unit_of_work(self.services.db, self.services.storage)

    def fresh_loaders(self) -> Loaders:
        """New loaders, for each event of a subscription: a websocket context outlives any one event."""
        return make_loaders(self.services.db)

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self.services.settings

    @property
    def storage(self) -> RunStorage:
        """The app's run storage."""
        return self.services.storage


Info = strawberry.Info[Context, None]
