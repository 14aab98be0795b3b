"""R2: 100 live subscriptions while Postgres restarts: every seq arrives once, or the stream ends with an error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from churns_gql import events
from churns_gql.cli import migrate
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.graphql.context import AppServices
from churns_gql.graphql.ids import encode_id
from churns_gql.models import Image, JobStatus, Refinement, RefinementType, Run, StageStatus
from churns_gql.queue import JobQueue
from churns_gql.services import lifecycle
from churns_gql.storage import RunStorage
from tests.conftest import WSClient, run_in_thread
from tests.faults import ThrowawayPostgres

JOBS = 10
SUBSCRIBERS_PER_JOB = 10
PROGRESS = "subscription($id: ID!) { refinementProgress(id: $id) { seq terminal } }"


@pytest.fixture
async def pg():
    server = ThrowawayPostgres()
    await asyncio.to_thread(server.init)
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.destroy)


@pytest.fixture
async def pg_services(pg, settings):
    url = pg.dsn().replace("postgresql://", "postgresql+asyncpg://")
    await asyncio.to_thread(run_in_thread, migrate, url)
    engine = make_engine(url)
    queue = JobQueue(settings.redis_url)
    yield AppServices(
        settings=settings.with_changes(database_url=url),
        db=make_sessionmaker(engine),
        storage=RunStorage(settings.data_dir),
        queue=queue,
    )
    await queue.close()
    await engine.dispose()


async def _make_jobs(services) -> tuple[uuid.UUID, list[uuid.UUID]]:
    run = Run(id=uuid.uuid4(), status=JobStatus.COMPLETED)
    image = Image(id=uuid.uuid4(), run_id=run.id, generation_index=0, path="originals/image_0.png", width=8, height=8)
    jobs = [
        Refinement(
            id=uuid.uuid4(),
            run_id=run.id,
            parent_image_id=image.id,
            generation_index=0,
            version=2,
            type=RefinementType.PROMPT,
            status=JobStatus.QUEUED,
            prompt="p",
            creativity_level=2,
            created_at=lifecycle.utcnow(),
        )
        for _ in range(JOBS)
    ]
    async with services.db() as session:
        session.add(run)
        await session.flush()
        session.add(image)
        await session.flush()
        for job in jobs:
            session.add(job)
            await session.flush()
            await lifecycle.publish_queued(session, job)
        await session.commit()
    return run.id, [j.id for j in jobs]


async def _publish(services, run_id, job_id, *, terminal=False) -> None:
    """Publish one event, retrying while Postgres is coming back."""
    for _ in range(100):
        try:
            async with services.db() as session:
                await events.publish(
                    session,
                    job_id=job_id,
                    run_id=run_id,
                    stage="s",
                    status=StageStatus.RUNNING,
                    progress=0.5,
                    terminal=terminal,
                )
                await session.commit()
            return
        except (OSError, DBAPIError, InterfaceError, OperationalError, ConnectionError):
            await asyncio.sleep(0.1)
    raise AssertionError("could not publish after the restart")


async def _follow(base_url, gids) -> list[tuple[list[int], str]]:
    """One connection, one subscription per global id; returns each one's seqs and how it ended."""
    out = {gid: [] for gid in gids}
    ended: dict[str, str] = {}
    ops = {str(i): gid for i, gid in enumerate(gids)}
    async with WSClient(base_url) as ws:
        for op, gid in ops.items():
            await ws.subscribe(op, PROGRESS, {"id": gid})
        while len(ended) < len(ops):
            message = await ws.receive(timeout=60)
            gid = ops[message["id"]]
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    ended[gid] = "error"
                else:
                    out[gid].append(payload["data"]["refinementProgress"]["seq"])
            else:
                ended[gid] = message["type"]
    return [(out[g], ended[g]) for g in gids]


async def test_subscribers_survive_a_postgres_restart(pg, pg_services, pg_live_server):
    live_server = pg_live_server
    run_id, job_ids = await _make_jobs(pg_services)
    gids = [encode_id("Refinement", j) for j in job_ids]
    followers = [asyncio.create_task(_follow(live_server, gids)) for _ in range(SUBSCRIBERS_PER_JOB)]
    await asyncio.sleep(0.5)
    for job in job_ids:
        await _publish(pg_services, run_id, job)
    await asyncio.to_thread(pg.stop, "fast")
    await asyncio.sleep(0.5)
    await asyncio.to_thread(pg.start)
    for job in job_ids:  # these run across the restart: seq 3 and 4
        await _publish(pg_services, run_id, job)
        await _publish(pg_services, run_id, job, terminal=True)
    results = [r for f in await asyncio.wait_for(asyncio.gather(*followers), 90) for r in f]
    assert len(results) == JOBS * SUBSCRIBERS_PER_JOB
    complete = [seqs for seqs, how in results if how == "complete"]
    for seqs, how in results:
        assert how in ("complete", "error")  # never silence
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no repeat, even when it ended early
    assert all(seqs == [1, 2, 3, 4] for seqs in complete)
    assert len(complete) == len(results), f"{len(results) - len(complete)} ended with an error"


@pytest.fixture
async def pg_live_server(pg_services):
    """The app on the throwaway Postgres, served on a free loopback port."""
    import uvicorn

    from churns_gql.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services=pg_services),
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_level="warning",
            ws_ping_interval=None,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started and pg_services.hub is not None and pg_services.hub.connected.is_set():
            break
        await asyncio.sleep(0.01)
    assert server.started and pg_services.hub.connected.is_set(), "the server or its listener did not start"
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    await asyncio.wait_for(task, 15)


async def test_queries_while_postgres_is_down_are_coded_unavailable(pg, pg_services):
    """A database restart answers UNAVAILABLE (retryable), not a masked INTERNAL error."""
    import httpx

    from churns_gql.app import create_app

    # The API's own engine has no pre-ping: stale connections after the restart are found by use.
    engine = make_engine(pg_services.settings.database_url, pre_ping=False)
    services = AppServices(
        settings=pg_services.settings,
        db=make_sessionmaker(engine),
        storage=pg_services.storage,
        queue=pg_services.queue,
    )
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        await http.post("/graphql", json={"query": "{ __typename }"})  # auth state known and cached
        await http.post("/graphql", json={"query": "{ runs { totalCount } }"})  # a pooled connection
        await asyncio.to_thread(pg.stop)
        try:
            answered = (await http.post("/graphql", json={"query": "{ runs { totalCount } }"})).json()
            services.gate.forget()  # a cold gate must ask the database, which is away
            refused = await http.post("/graphql", json={"query": "{ runs { totalCount } }"})
        finally:
            await asyncio.to_thread(pg.start)
        # The count-only request runs on a pooled driver connection: once one failed, the pool's stale
        # connections are all recycled, so the next request is answered.
        back = (await http.post("/graphql", json={"query": "{ runs { totalCount } }"})).json()
    error = answered["errors"][0]
    assert error["extensions"]["code"] == "UNAVAILABLE", error
    assert error["message"] == "the database cannot be reached right now; try again"
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert back == {"data": {"runs": {"totalCount": 0}}}, back
    await engine.dispose()
