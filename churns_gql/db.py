"""The async engine, the session factory and the declarative Base with a naming convention."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import MetaData, Select, select
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
