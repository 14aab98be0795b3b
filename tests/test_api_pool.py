"""The API keeps the database connections a burst opened: the next burst opens none."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, text

from churns_gql.app import API_CONNECTIONS, create_app


async def test_a_second_burst_reuses_the_connections_of_the_first(settings):
    app = create_app(settings)
    engine = app.state.services.db.kw["bind"]
    opened = 0

    def count(*args: Any) -> None:
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine, "connect", count)

    async def burst() -> None:
        connections = [await engine.connect() for _ in range(25)]
        await asyncio.gather(*(c.execute(text("SELECT 1")) for c in connections))
        await asyncio.gather(*(c.close() for c in connections))

    try:
        await burst()
        assert opened == 25
        await burst()
        assert opened == 25  # an overflow connection closed on return would be opened again here
        assert engine.pool.size() == API_CONNECTIONS and engine.pool.overflow() <= 0
    finally:
        event.remove(engine.sync_engine, "connect", count)
        await engine.dispose()
