"""The async engine, the session factory and the declarative Base with a naming convention."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import MetaData, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

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


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine; `pre_ping` checks each pooled connection before use.

    The API turns pre-ping off: it costs round trips on every checkout of a hot path, and after a
    Postgres restart SQLAlchemy drops the whole pool on the first failed statement anyway.
    """
    return create_async_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=pre_ping)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


M = TypeVar("M")


async def rows_by_id(session: AsyncSession, model: type[M], ids: Sequence[Any]) -> dict[Any, M]:
    """Rows of `model` keyed by id: one query for a whole DataLoader batch."""
    rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()  # type: ignore[attr-defined]
    return {row.id: row for row in rows}  # type: ignore[attr-defined]


async def rows_grouped(session: AsyncSession, query: Select[Any], key: str, keys: Sequence[Hashable]) -> dict[Any, list[Any]]:
    """Rows of an ordered query grouped by the attribute `key`, every requested key present (maybe empty)."""
    out: dict[Any, list[Any]] = {k: [] for k in keys}
    for row in (await session.scalars(query)).all():
        out[getattr(row, key)].append(row)
    return out


@dataclass
class Page:
    """One page of a keyset-paginated list."""

    rows: list[Any]
    has_next: bool
    total: int


async def keyset_page(
    session: AsyncSession, base: Select[Any], model: Any, *, first: int,
    after: tuple[datetime, Any] | None, newest_first: bool, with_rows: bool = True,
) -> Page:
    """A page of `base` ordered by (created_at, id), starting after the keyset position `after`.

    Without `with_rows` only the total is read (a caller asking just for totalCount).
    """
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    if not with_rows:
        return Page(rows=[], has_next=False, total=int(total or 0))
    created, ident = model.created_at, model.id
    query = base
    if after is not None:
        at, at_id = after
        if newest_first:
            query = query.where(or_(created < at, and_(created == at, ident < at_id)))
        else:
            query = query.where(or_(created > at, and_(created == at, ident > at_id)))
    order = (created.desc(), ident.desc()) if newest_first else (created, ident)
    rows = (await session.scalars(query.order_by(*order).limit(first + 1))).all()
    return Page(rows=list(rows[:first]), has_next=len(rows) > first, total=int(total or 0))
