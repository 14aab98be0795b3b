"""SQL cost of one GraphQL request, counted in-process: statements (SQLAlchemy's hook and asyncpg's query logger for
statements sent on the driver directly) and wire round trips (a proxy)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import Ctx
from bench.gql import execute
from bench.stack import HOST


class RoundTripProxy:
    """A loopback TCP proxy in front of Postgres that counts request→response turns, i.e. wire round trips.

    A turn starts when the client sends after the server last spoke; it covers what SQLAlchemy's
    statement hook cannot see: pool pre-ping, BEGIN, ROLLBACK on return to the pool, prepares.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        """A proxy to Postgres at upstream_host:upstream_port (not listening until start())."""
        self.upstream = (upstream_host, upstream_port)
        self.turns = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        """Relay one client connection, counting its turns."""
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        state = {"client_spoke_last": False}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            """Copy one direction until EOF."""
            try:
                for _ in range(10_000_000):
                    data = await src.read(65536)
                    if not data:
                        break
                    if from_client and not state["client_spoke_last"]:
                        self.turns += 1
                    state["client_spoke_last"] = from_client
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        tasks = [asyncio.create_task(pump(client_r, up_w, True)), asyncio.create_task(pump(up_r, client_w, False))]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)

    async def close(self) -> None:
        """Stop listening and drop every proxied connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def count_in_process(ctx: Ctx, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run the query against an in-process app whose engine counts statements and goes through the proxy."""
    from churns_gql.app import create_app
    from churns_gql.config import Settings
    from churns_gql.db import make_engine, make_sessionmaker
    from churns_gql.graphql.context import AppServices
    from churns_gql.queue import JobQueue
    from churns_gql.storage import RunStorage

    url = httpx.URL(ctx.target.dsn)
    proxy = RoundTripProxy(url.host or HOST, url.port or 5432)
    proxy_port = await proxy.start()
    database_url = ctx.target.database_url.replace(f"{url.host}:{url.port or 5432}", f"{HOST}:{proxy_port}", 1)
    settings = Settings.defaults(
        database_url=database_url,
        redis_url=ctx.target.redis_url,
        data_dir=ctx.target.data_dir,
        provider="local",
        web_dir=ctx.target.data_dir / "no-web",
    )
    engine = make_engine(database_url)
    statements: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """Record each statement SQLAlchemy sends."""
        statements.append(statement)

    def on_driver_query(record: Any) -> None:
        """Record a statement sent on a pooled connection's asyncpg driver directly (not BEGIN, COMMIT, ROLLBACK)."""
        query = record.query.strip().rstrip(";")
        if query.split(" ", 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK") and ";" in query:
            query = query.split(";", 1)[1].strip()  # a statement sent in BEGIN's message
        if query.split(" ", 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            statements.append(query)

    def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        """Listen to what each checked-out connection's driver sends directly (once per connection)."""
        dbapi_conn.driver_connection.remove_query_logger(on_driver_query)
        dbapi_conn.driver_connection.add_query_logger(on_driver_query)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine.pool, "checkout", on_checkout)
    queue = JobQueue(settings.redis_url)
    services = AppServices(
        settings=settings, db=make_sessionmaker(engine), storage=RunStorage(settings.data_dir), queue=queue
    )
    app = create_app(services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            # The first run fills the pool, the prepared-statement caches and the token gate's cache.
            await execute(http, query, variables)
            statements.clear()
            turns_before = proxy.turns
            await execute(http, query, variables)
            counted = list(statements)
            turns = proxy.turns - turns_before
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
        event.remove(engine.sync_engine.pool, "checkout", on_checkout)
        await queue.close()
        await engine.dispose()
        await proxy.close()
    return {
        "statements": len(counted),
        "wire_round_trips": turns,
        "statement_heads": [" ".join(s.split())[:90] for s in counted],
    }
