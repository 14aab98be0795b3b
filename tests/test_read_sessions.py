"""Plain reads (the runs list) run in autocommit: one wire round trip for `runs { totalCount }`, no BEGIN/ROLLBACK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
def wire(clean_db: AsyncEngine) -> Iterator[list[str]]:
    """The queries asyncpg runs on the test engine's connections: BEGIN, COMMIT, ROLLBACK, and statements run on it directly."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(log)

    event.listen(clean_db.sync_engine, "checkout", on_checkout)
    event.listen(clean_db.sync_engine, "checkin", on_checkin)
    yield sent
    event.remove(clean_db.sync_engine, "checkout", on_checkout)
    event.remove(clean_db.sync_engine, "checkin", on_checkin)


async def test_total_count_alone_is_one_statement_on_the_wire(client: Any, wire: list[str], count_queries: Any):
    await client.data("{ runs(first: 1) { totalCount } }")  # the gate's first look at auth state is a transaction
    wire.clear()
    count_queries.statements.clear()
    data = await client.data("{ runs(first: 1) { totalCount } }")
    assert data["runs"]["totalCount"] == 0
    # The count goes to asyncpg directly (no SQLAlchemy statement at all): asyncpg's query logger sees it
    # alone, with no BEGIN/ROLLBACK around it.
    assert len(wire) == 1 and "run_counts" in wire[0]
    assert count_queries.statements == []


async def test_writes_still_run_in_a_transaction(client: Any, wire: list[str]):
    from tests.conftest import import_images, png_bytes

    await import_images(client, [png_bytes()])
    assert any(q.strip().upper().startswith("BEGIN") for q in wire)
    assert any(q.strip().upper().startswith("COMMIT") for q in wire)


async def test_total_count_alone_honours_the_status_filter(client: Any, services: Any, wire: list[str]):
    import uuid

    from churns_gql.models import JobStatus, Run

    async with services.db() as session:
        session.add_all(Run(id=uuid.uuid4(), status=s) for s in [JobStatus.QUEUED] * 3 + [JobStatus.FAILED] * 2)
        await session.commit()
    await client.data("{ __typename }")  # the gate's first look at auth state
    wire.clear()
    data = await client.data("{ all: runs { totalCount } q: runs(status: QUEUED, last: 2) { totalCount } }")
    assert data == {"all": {"totalCount": 5}, "q": {"totalCount": 3}}
    assert len(wire) == 2 and all("run_counts" in q for q in wire)
