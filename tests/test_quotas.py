"""Per-token quotas: rate, active jobs, daily spend and storage, atomic under concurrency, shown by `me`."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from churns_gql.models import Refinement, Run
from churns_gql.services import quotas, tokens
from tests.conftest import import_images, png_bytes, refine
from tests.test_generation_engine import create

ME = """{ me { tokenId queuedThisMinute { used limit } activeJobs { used limit } spentTodayUsd { used limit }
              storageMb { used limit } } }"""


def _limit(services, **limits) -> None:
    services.settings = services.settings.with_changes(**limits)


async def _parent(client) -> str:
    return (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]


async def _refinements(services) -> int:
    async with services.db() as session:
        return int(await session.scalar(select(func.count()).select_from(Refinement)))


async def test_the_rate_limit_refuses_with_the_seconds_to_wait_and_stores_nothing(client, services):
    parent = await _parent(client)
    _limit(services, rate_limit_per_minute=3)
    accepted = [await refine(client, parent, prompt="warmer") for _ in range(3)]
    assert all(not p["userErrors"] for p in accepted)
    refused = await refine(client, parent, prompt="warmer")
    assert refused["refinement"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "RATE_LIMITED" and "try again in" in error["message"]
    seconds = int(error["message"].rsplit("in ", 1)[1].split(" ")[0])
    assert 1 <= seconds <= 60
    assert await _refinements(services) == 3


async def test_concurrent_requests_never_overshoot_the_active_job_limit(client, services):
    parent = await _parent(client)
    _limit(services, max_active_jobs_per_token=5)
    # No worker runs, so every accepted job stays QUEUED: exactly five may be admitted.
    payloads = await asyncio.gather(*[refine(client, parent, prompt="cooler") for _ in range(12)])
    codes = sorted(p["userErrors"][0]["code"] if p["userErrors"] else "OK" for p in payloads)
    assert codes == ["OK"] * 5 + ["QUOTA_EXCEEDED"] * 7
    assert await _refinements(services) == 5


async def test_tokens_have_their_own_buckets(client, services):
    _limit(services, max_active_jobs_per_token=1)
    clients = []
    for name in ("a", "b"):
        async with services.db() as session:
            _row, token = await tokens.create_token(session, name)
            await session.commit()
        clients.append(token)
    services.gate.forget()
    for token in clients:
        client.http.headers["Authorization"] = f"Bearer {token}"
        parent = await _parent(client)
        assert not (await refine(client, parent, prompt="warmer"))["userErrors"]
        assert (await refine(client, parent, prompt="warmer"))["userErrors"][0]["code"] == "QUOTA_EXCEEDED"
    client.http.headers.pop("Authorization")


async def test_the_daily_spend_limit_counts_estimates_of_queued_jobs(client, services):
    parent = await _parent(client)
    # The estimate is what OpenAI would cost; the fake key selects it without calling anything here.
    _limit(services, provider="openai", openai_api_key="sk-test", daily_spend_limit_usd=0.6)
    assert quotas.estimated_cost(services.settings, 1) == quotas.OPENAI_IMAGE_ESTIMATE_USD
    first = await refine(client, parent, prompt="warmer")
    second = await refine(client, parent, prompt="warmer")
    third = await refine(client, parent, prompt="warmer")
    assert not first["userErrors"] and not second["userErrors"]
    assert third["userErrors"][0]["code"] == "QUOTA_EXCEEDED" and "$0.60" in third["userErrors"][0]["message"]


async def test_the_storage_limit_refuses_imports_once_full(client, services):
    _limit(services, max_storage_mb_per_token=1)
    quotas._storage_cache.clear()
    big = png_bytes(900, 900)
    noise = bytes(range(256)) * 4096  # 1 MB of incompressible-enough bytes beside the run
    first = await import_images(client, [big])
    run_dir = services.storage.runs_dir / first["run"]["images"][0]["url"].split("/")[3]
    (run_dir / "padding.bin").write_bytes(noise + noise)
    quotas._storage_cache.clear()
    second = await import_images(client, [big])
    assert second["run"] is None and second["userErrors"][0]["code"] == "QUOTA_EXCEEDED"
    async with services.db() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 1


async def test_me_shows_usage_against_each_limit(client, services):
    parent = await _parent(client)
    run_dir = next(services.storage.runs_dir.iterdir())
    (run_dir / "padding.bin").write_bytes(b"x" * 512 * 1024)
    _limit(services, rate_limit_per_minute=10, max_active_jobs_per_token=4, max_storage_mb_per_token=100)
    quotas._storage_cache.clear()
    await refine(client, parent, prompt="warmer")
    me = (await client.data(ME))["me"]
    assert me["tokenId"] is None
    assert me["queuedThisMinute"] == {"used": 1, "limit": 10}
    assert me["activeJobs"] == {"used": 1, "limit": 4}
    assert me["spentTodayUsd"] == {"used": 0, "limit": 0}
    assert 0.5 <= me["storageMb"]["used"] < 0.6 and me["storageMb"]["limit"] == 100


async def test_refine_image_holds_the_quota_lock_for_one_statement(client, services, count_driver_queries):
    """Regression (bench P5): the bucket's lock was held over six statements, serialising every refineImage."""
    parent = await _parent(client)
    _limit(
        services,
        provider="openai",
        openai_api_key="sk-test",
        rate_limit_per_minute=100,
        max_active_jobs_per_token=100,
        daily_spend_limit_usd=100.0,
        max_storage_mb_per_token=100,
    )
    before = count_driver_queries.count
    assert not (await refine(client, parent, prompt="warmer"))["userErrors"]
    sent = count_driver_queries.statements[before:]
    [locking] = [i for i, s in enumerate(sent) if "pg_advisory_xact_lock" in s]
    [inserting] = [i for i, s in enumerate(sent) if "INSERT INTO stage_events" in s]
    # After the locks: one statement that counts, numbers, inserts and notifies (then the commit).
    assert inserting == locking + 1, sent[locking : inserting + 1]
    assert all(part in sent[inserting] for part in ("rate_windows", "quota_active", "quota_spent", "pg_notify"))
    async with services.db() as session:
        [row] = (await session.scalars(select(Refinement))).all()
    assert row.version == 2 and row.status.value == "QUEUED"


async def test_create_run_counts_against_the_same_limits_in_one_statement(client, services, count_queries):
    """quotas.admit (createRun) counts rate and active jobs in one statement after the lock; a refused run writes nothing."""
    _limit(services, rate_limit_per_minute=2, max_active_jobs_per_token=5)
    before = count_queries.count
    assert not (await create(client))["userErrors"]
    sent = count_queries.statements[before:]
    [locking] = [i for i, s in enumerate(sent) if "pg_advisory_xact_lock" in s]
    assert "quota_rate" in sent[locking + 1] and "quota_active" in sent[locking + 1]
    assert not (await create(client))["userErrors"]
    refused = await create(client)
    assert refused["run"] is None and refused["userErrors"][0]["code"] == "RATE_LIMITED"
    async with services.db() as session:
        assert int(await session.scalar(select(func.count()).select_from(Run))) == 2
    _limit(services, rate_limit_per_minute=0, max_active_jobs_per_token=2)
    # Two runs are QUEUED (no worker runs): a third is one too many.
    assert (await create(client))["userErrors"][0]["code"] == "QUOTA_EXCEEDED"


async def test_two_api_replicas_share_the_limits_through_postgres(client, services):
    # A second app with its own engine, pool, token gate and queue: nothing shared with the first but Postgres.
    import httpx

    from churns_gql.app import create_app
    from churns_gql.db import make_engine, make_sessionmaker
    from churns_gql.graphql.context import AppServices
    from churns_gql.queue import JobQueue
    from tests.conftest import TEST_DATABASE_URL, GraphQLClient

    parent = await _parent(client)
    _limit(services, max_active_jobs_per_token=5)
    engine = make_engine(TEST_DATABASE_URL)
    other = AppServices(
        settings=services.settings,
        db=make_sessionmaker(engine),
        storage=services.storage,
        queue=JobQueue(services.settings.redis_url),
    )
    try:
        transport = httpx.ASGITransport(app=create_app(services=other))
        async with httpx.AsyncClient(transport=transport, base_url="http://replica-b") as http:
            replica_b = GraphQLClient(http)
            both = [client, replica_b] * 6
            payloads = await asyncio.gather(*[refine(c, parent, prompt="cooler") for c in both])
    finally:
        await other.queue.close()
        await engine.dispose()
    codes = sorted(p["userErrors"][0]["code"] if p["userErrors"] else "OK" for p in payloads)
    assert codes == ["OK"] * 5 + ["QUOTA_EXCEEDED"] * 7
    assert await _refinements(services) == 5


async def test_the_active_count_reads_the_counters_not_every_queued_job(client, services, clean_db):
    """Regression (bench P5): the active-job count read every QUEUED refinement of the bucket under its lock, so each
    admission took longer than the one before; it sums the trigger-kept counters now, and still counts exactly."""
    parent = await _parent(client)
    _limit(services, max_active_jobs_per_token=1000)
    for _ in range(5):
        assert not (await refine(client, parent, prompt="warmer"))["userErrors"]
    plan = quotas.plan(services.settings, None, queues_work=True, estimate_usd=0.0)
    assert plan is not None
    ctes, cols, froms, params = quotas.usage_sql(plan)
    async with clean_db.connect() as conn:
        assert (await conn.execute(text(f"WITH {ctes} SELECT {cols} FROM {froms}"), params)).one()[-1] == 5
        explained = (
            await conn.execute(text(f"EXPLAIN (FORMAT JSON) WITH {ctes} SELECT {cols} FROM {froms}"), params)
        ).scalar()
        await conn.rollback()
    scanned = set()

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            scanned.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(explained[0]["Plan"])
    assert "refinements" not in scanned and "refinement_counts" in scanned, scanned
