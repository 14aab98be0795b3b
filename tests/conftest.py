"""Shared fixtures: a migrated test database, a clean Redis db, an isolated data dir and a typed client."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.config import Config
from PIL import Image as PILImage
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from churns_gql.app import create_app
from churns_gql.config import Settings
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.graphql.context import AppServices
from churns_gql.queue import JobQueue
from churns_gql.storage import IndexEntry, RunStorage
from tests.s3_server import moto_endpoint, s3_url  # noqa: F401 - fixtures shared by the S3 storage tests

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "CHURNS_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/churns_test"
)
TEST_REDIS_URL = os.environ.get("CHURNS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TABLES = ("stage_events", "refinements", "images", "runs", "api_tokens", "auth_state", "rate_windows")


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the repo's migrations aimed at `database_url`."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def recreate_database(database_url: str) -> None:
    """Drop and create a database, so each test session starts from nothing."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def run_in_thread(fn: Any, *args: Any) -> None:
    """Run a function that calls asyncio.run (Alembic's env.py) away from the test loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
async def engine() -> AsyncIterator[AsyncEngine]:
    """The test database, recreated and migrated to head by Alembic once per session."""
    await recreate_database(TEST_DATABASE_URL)
    await asyncio.to_thread(run_in_thread, command.upgrade, alembic_config(TEST_DATABASE_URL), "head")
    eng = make_engine(TEST_DATABASE_URL, pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
async def clean_db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database, emptied after the test."""
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data dir, the test database and Redis db, the local provider."""
    return Settings.defaults(
        database_url=TEST_DATABASE_URL,
        redis_url=TEST_REDIS_URL,
        data_dir=tmp_path / "data",
        provider="local",
        web_dir=tmp_path / "no-web",
        # Quotas are off in tests unless a test turns one on (tests/test_quotas.py).
        rate_limit_per_minute=0,
        max_active_jobs_per_token=0,
        daily_spend_limit_usd=0.0,
        max_storage_mb_per_token=0,
    )


@pytest.fixture
async def services(settings: Settings, clean_db: AsyncEngine) -> AsyncIterator[AppServices]:
    """App services over the shared test engine, with a job queue on the test Redis db (emptied first)."""
    redis = Redis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    queue = JobQueue(settings.redis_url)
    yield AppServices(
        settings=settings, db=make_sessionmaker(clean_db), storage=RunStorage(settings.data_dir), queue=queue
    )
    await queue.close()


@dataclass
class GraphQLClient:
    """A typed client for the app under test: JSON queries and multipart uploads."""

    http: httpx.AsyncClient

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a JSON GraphQL request; returns the whole response body."""
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Execute and return `data`, failing the test on any GraphQL error."""
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def upload(
        self, query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]], *, preflight: bool = True
    ) -> httpx.Response:
        """A GraphQL multipart request; `files` maps a variable path such as 'input.images.0' to a file."""
        file_map = {str(i): [f"variables.{path}"] for i, path in enumerate(files)}
        parts = {str(i): spec for i, spec in enumerate(files.values())}
        headers = {"Apollo-Require-Preflight": "true"} if preflight else {}
        return await self.http.post(
            "/graphql",
            data={"operations": json.dumps({"query": query, "variables": variables}), "map": json.dumps(file_map)},
            files=parts,
            headers=headers,
        )


@pytest.fixture
async def client(services: AppServices) -> AsyncIterator[GraphQLClient]:
    """A client speaking to the app in-process."""
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http)


class QueryCounter:
    """Counts SQL statements sent through an engine while active."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        """Statements seen so far."""
        return len(self.statements)


@pytest.fixture
def count_queries(clean_db: AsyncEngine) -> Iterator[QueryCounter]:
    """A QueryCounter attached to the test engine for the test's duration."""
    counter = QueryCounter()
    event.listen(clean_db.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(clean_db.sync_engine, "before_cursor_execute", counter)


class DriverQueryCounter(QueryCounter):
    """Counts the statements sent on pooled connections' asyncpg drivers directly (SQLAlchemy's are not among them),
    without transaction control; a statement sent in BEGIN's message counts as itself."""

    def logged(self, record: Any) -> None:
        """asyncpg's query logger."""
        query = record.query.strip().rstrip(";")
        if query.split(" ", 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK") and ";" in query:
            query = query.split(";", 1)[1].strip()
        if query.split(" ", 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.statements.append(query)

    def checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        """Pool checkout: listen to the driver connection."""
        dbapi_conn.driver_connection.add_query_logger(self.logged)

    def checkin(self, dbapi_conn: Any, _record: Any) -> None:
        """Pool checkin: stop listening."""
        if dbapi_conn is not None:
            dbapi_conn.driver_connection.remove_query_logger(self.logged)


@pytest.fixture
def count_driver_queries(clean_db: AsyncEngine) -> Iterator[DriverQueryCounter]:
    """A DriverQueryCounter on the test engine's pool for the test's duration."""
    counter = DriverQueryCounter()
    pool = clean_db.sync_engine.pool
    event.listen(pool, "checkout", counter.checkout)
    event.listen(pool, "checkin", counter.checkin)
    yield counter
    event.remove(pool, "checkout", counter.checkout)
    event.remove(pool, "checkin", counter.checkin)


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, ...] = (200, 40, 40), mode: str = "RGB") -> bytes:
    """A real PNG of one colour."""
    out = io.BytesIO()
    PILImage.new(mode, (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (20, 120, 220)) -> bytes:
    """A real JPEG of one colour."""
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, format="JPEG")
    return out.getvalue()


IMPORT_RUN = """
mutation Import($input: ImportRunInput!) {
  importRun(input: $input) {
    run { id status prompt metadata images { id version generationIndex url width height path children { id } } }
    userErrors { field message code }
  }
}
"""


async def import_images(client: GraphQLClient, images: list[bytes], **extra: Any) -> dict[str, Any]:
    """Import PNG/JPEG bytes as a run; returns the importRun payload."""
    variables = {"input": {"images": [None] * len(images), **extra}}
    files = {f"input.images.{i}": (f"image_{i}.png", data, "image/png") for i, data in enumerate(images)}
    response = await client.upload(IMPORT_RUN, variables, files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]["importRun"]


@pytest.fixture
def worker_services(services: AppServices) -> Any:
    """Worker-side services sharing the test database, data dir and Redis db, with the offline provider."""
    from churns_gql.pipeline.context import WorkerServices
    from churns_gql.providers.local import LocalImageEditor

    return WorkerServices(
        settings=services.settings, db=services.db, storage=services.storage, editor=LocalImageEditor()
    )


async def run_worker(worker_services: Any, **overrides: Any) -> int:
    """Run a burst worker until the queue is empty; returns how many jobs completed."""
    from churns_gql.worker import make_worker, pipeline_jobs_done

    worker = make_worker(worker_services, burst=True, **overrides)
    try:
        await worker.async_run()
        return pipeline_jobs_done(worker)
    finally:
        await worker.close()


REFINE = """
mutation Refine($input: RefineImageInput!) {
  refineImage(input: $input) {
    refinement { id status version generationIndex type summary url width height costUsd
                 parent { id version } mask { x y width height } creativityLevel referenceImageUrl }
    userErrors { field message code }
  }
}
"""


async def refine(client: GraphQLClient, parent_id: str, type: str = "PROMPT", **fields: Any) -> dict[str, Any]:
    """Call refineImage (JSON, no upload) and return its payload."""
    payload = (await client.data(REFINE, {"input": {"parentId": parent_id, "type": type, **fields}}))["refineImage"]
    return payload


@contextlib.asynccontextmanager
async def running_server(services: AppServices, **options: Any) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port, its hub listening; yields its base URL."""
    import uvicorn

    from churns_gql.ws_writes import CorkedWebSocketProtocol

    # The production websocket protocol (coalesced writes) unless a test brings its own.
    options = {"ws_ping_interval": None, "ws": CorkedWebSocketProtocol, **options}
    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=0, lifespan="on", log_level="warning", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        for _ in range(200):  # the hub connects in the background; tests want it listening
            if services.hub is not None and services.hub.connected.is_set():
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def live_server(services: AppServices) -> AsyncIterator[str]:
    """The app on a free port, every subscription test going through the production websocket protocol."""
    async with running_server(services) as url:
        yield url


class WSClient:
    """A graphql-transport-ws client for tests."""

    def __init__(self, base_url: str, payload: dict[str, Any] | None = None) -> None:
        self.url = base_url.replace("http://", "ws://") + "/graphql"
        self.payload = payload or {}
        self.ws: Any = None

    async def __aenter__(self) -> WSClient:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, subprotocols=["graphql-transport-ws"])
        await self.ws.send(json.dumps({"type": "connection_init", "payload": self.payload}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        """Send a subscribe message."""
        await self.ws.send(
            json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        """The next message that is not a ping (pings are answered)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            return message

    async def collect(self, op_id: str, timeout: float = 10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Payloads of `next` messages for op_id until `complete` or `error`; returns them and the last message."""
        items = []
        while True:
            message = await self.receive(timeout)
            if message.get("id") != op_id:
                continue
            if message["type"] == "next":
                items.append(message["payload"])
            else:
                return items, message


async def break_queue(services: AppServices) -> None:
    """Point the app's job queue at a port where no Redis listens."""
    await services.queue.close()
    services.queue = JobQueue("redis://127.0.0.1:1/0")


async def assert_failed_for_lost_queue(services: AppServices, model: Any, payload: dict[str, Any], key: str) -> None:
    """The payload says UNAVAILABLE and the job ended FAILED, with a terminal FAILED event, naming Redis."""
    from sqlalchemy import select

    from churns_gql.graphql.ids import decode_id
    from churns_gql.models import JobStatus, StageEvent

    assert [e["code"] for e in payload["userErrors"]] == ["UNAVAILABLE"]
    assert payload[key]["status"] == "FAILED"
    async with services.db() as session:
        row = await session.get(model, decode_id(payload[key]["id"])[1])
        last = await session.scalar(
            select(StageEvent).where(StageEvent.job_id == row.id).order_by(StageEvent.seq.desc()).limit(1)
        )
    assert row.status == JobStatus.FAILED and "Redis" in row.error_message
    assert last.terminal and last.status.value == "FAILED"


def index_entry(job_id: str, cost: float = 0.5, summary: str | None = "s") -> IndexEntry:
    """A refinements.json entry of a PROMPT refinement from original 0, for storage and index tests."""
    return IndexEntry(
        job_id=job_id,
        parent_image_id="p",
        parent_image_path="originals/image_0.png",
        image_path=f"refinements/{job_id}_from_0.png",
        type="prompt",
        summary=summary,
        cost=cost,
        created_at="2026-01-01T00:00:00+00:00",
    )
