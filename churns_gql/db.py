"""The async engine, the session factory and the declarative Base with a naming convention."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import ColumnElement, MetaData, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import greenlet_spawn

# Named constraints let Alembic migrations refer to (and drop) them predictably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine of at most `pool_size` + `max_overflow` connections; `pre_ping` checks each pooled
    connection before use.

    The API turns pre-ping off: it costs round trips on every checkout of a hot path, and after a
    Postgres restart SQLAlchemy drops the whole pool on the first failed statement anyway.
    """
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pre_ping)


_LOST_CONNECTION = (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)


@lru_cache(maxsize=64)
def _driver_sql(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A prebuilt statement as the driver's SQL, its parameter names in order and their defaults."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)


async def scalar_on_driver(engine: AsyncEngine, statement: Any, params: dict[str, Any]) -> Any:
    """One prebuilt statement's scalar, run on a pooled asyncpg connection directly, outside a transaction.

    For a hot single-statement read (bench P4+): no SQLAlchemy Connection, execution context or Result,
    whose per-statement cost was most of the request. Values go to asyncpg as they are, so the statement's
    parameters must be of types asyncpg takes (uuid, str, int...). A connection that fails mid-statement
    is dropped from the pool rather than handed out again.
    """
    sql, names, defaults = _driver_sql(statement, engine.dialect)
    args = [params[name] if name in params else defaults[name] for name in names]
    raw = await engine.raw_connection()
    try:
        value = await raw.driver_connection.fetchval(sql, *args)  # type: ignore[union-attr]  # asyncpg's
    except BaseException as exc:
        if isinstance(exc, _LOST_CONNECTION):
            # As SQLAlchemy does on a disconnect: every connection made before now is stale (Postgres
            # restarted), so the pool recycles them all instead of failing one request per connection.
            await greenlet_spawn(engine.sync_engine.pool._invalidate, raw, exc)
        elif isinstance(exc, asyncpg.PostgresError):
            await greenlet_spawn(raw.close)  # the server refused the statement; the connection is fine
        else:
            await greenlet_spawn(raw.invalidate, exc)  # cancelled mid-statement: its state is unknown
        raise
    await greenlet_spawn(raw.close)
    return value


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def make_reader(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same pool whose statements run in autocommit: no BEGIN and no ROLLBACK round trip.

    For reads only. Under READ COMMITTED each statement takes its own snapshot anyway, so a read that
    runs without a transaction sees exactly what it would have seen inside one.
    """
    engine: AsyncEngine = sessions.kw["bind"]
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


M = TypeVar("M")


async def rows_by_id(session: AsyncSession, model: type[M], ids: Sequence[Any]) -> dict[Any, M]:
    """Rows of `model` keyed by id: one query for a whole DataLoader batch."""
    rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()  # type: ignore[attr-defined]
    return {row.id: row for row in rows}  # type: ignore[attr-defined]


async def rows_grouped(
    session: AsyncSession, query: Select[Any], key: str, keys: Sequence[Hashable]
) -> dict[Any, list[Any]]:
    """Rows of an ordered query grouped by the attribute `key`, every requested key present (maybe empty)."""
    out: dict[Any, list[Any]] = {k: [] for k in keys}
    for row in (await session.scalars(query)).all():
        out[getattr(row, key)].append(row)
    return out


@dataclass(frozen=True)
class Window:
    """Which page of a keyset-ordered list to read.

    The rows strictly between the positions `after` and `before`: the first `limit` of them, or the last
    `limit` when `from_end` (Relay's `last`).
    """

    limit: int
    after: tuple[datetime, Any] | None = None
    before: tuple[datetime, Any] | None = None
    from_end: bool = False


@dataclass
class Page:
    """One page of a keyset-paginated list, in list order, with Relay's pageInfo flags."""

    rows: list[Any]
    has_next: bool
    total: int
    has_previous: bool = False


def _past(model: Any, position: tuple[datetime, Any], descending: bool, *, strict: bool = True) -> ColumnElement[bool]:
    """Rows past `position` (or at it, unless strict) in the order (created_at, id), ascending or descending.

    A row-value comparison: Postgres bounds its (created_at, id) index scan with it, where the equivalent
    `a < x OR (a = x AND b < y)` is a filter over every row the scan walks past (a page deep in the list read
    the rows before it).
    """
    key = tuple_(model.created_at, model.id)
    if descending:
        return key < position if strict else key <= position
    return key > position if strict else key >= position


async def keyset_page(
    session: AsyncSession,
    base: Select[Any],
    model: Any,
    window: Window,
    *,
    newest_first: bool,
    with_rows: bool = True,
    total: ColumnElement[Any] | None = None,
) -> Page:
    """A page of `base` ordered by (created_at, id) (newest or oldest first), bounded in SQL by `window`.

    Backward pages (`from_end`) read the reversed order from `before` and flip the rows back. The count and
    the flag for the far side of the cursor (rows at or before `after` / at or after `before`) come in one
    statement; without `with_rows` only that statement runs (a caller asking just for totalCount). `total`
    is a scalar expression for the count when the caller has a cheaper one than COUNT(*) over `base`.
    """
    query = base
    if window.after is not None:
        query = query.where(_past(model, window.after, newest_first))
    if window.before is not None:
        query = query.where(_past(model, window.before, not newest_first))
    # Relay: paging forward, hasPreviousPage may say whether rows precede `after`; backward, hasNextPage
    # whether rows follow `before`. Both are one index probe here.
    descending = newest_first != window.from_end
    edge = window.before if window.from_end else window.after
    past_edge: ColumnElement[bool] = literal(False)
    if edge is not None and with_rows:
        past_edge = base.where(_past(model, edge, not descending, strict=False)).exists()
    counted = total if total is not None else select(func.count()).select_from(base.subquery()).scalar_subquery()
    total, outside = (await session.execute(select(counted, past_edge))).one()
    if not with_rows:
        return Page(rows=[], has_next=False, total=int(total or 0))
    created, ident = model.created_at, model.id
    order = (created.desc(), ident.desc()) if descending else (created, ident)
    rows = list((await session.scalars(query.order_by(*order).limit(window.limit + 1))).all())
    more = len(rows) > window.limit
    rows = rows[: window.limit]
    if window.from_end:
        rows.reverse()
        return Page(rows=rows, has_next=bool(outside), has_previous=more, total=int(total or 0))
    return Page(rows=rows, has_next=more, has_previous=bool(outside), total=int(total or 0))


@asynccontextmanager
async def read_session(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one read statement, run without a transaction.

    One statement sees one snapshot anyway; without BEGIN and the ROLLBACK on return to the pool, a
    DataLoader batch is one round trip instead of three (the isolation level goes back on check-in).
    """
    async with db() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
