"""Row counts kept by Postgres triggers (migration 0006): exact after every change, read by totalCount."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from churns_gql.graphql.ids import decode_id_of
from churns_gql.models import JobStatus, Run
from tests.conftest import TEST_DATABASE_URL, alembic_config, import_images, png_bytes, recreate_database, run_in_thread

RUN_DRIFT = """
WITH kept AS (SELECT owner_token_id, status, sum(n) AS n FROM run_counts GROUP BY 1, 2 HAVING sum(n) <> 0),
     real AS (SELECT owner_token_id, status, count(*) AS n FROM runs GROUP BY 1, 2)
(TABLE kept EXCEPT TABLE real) UNION ALL (TABLE real EXCEPT TABLE kept)"""
REFINEMENT_DRIFT = """
WITH kept AS (SELECT run_id, type, status, sum(n) AS n FROM refinement_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0),
     real AS (SELECT run_id, type, status, count(*) AS n FROM refinements GROUP BY 1, 2, 3)
(TABLE kept EXCEPT TABLE real) UNION ALL (TABLE real EXCEPT TABLE kept)"""
RUNS = "INSERT INTO runs (id, status, owner_token_id) SELECT gen_random_uuid(), :status, :owner FROM generate_series(1, :n)"
REFINEMENTS = """
INSERT INTO refinements (id, run_id, parent_image_id, generation_index, version, type, status, creativity_level)
SELECT gen_random_uuid(), :run, :image, 0, 1 + i, :type, :status, 2 FROM generate_series(1, :n) AS i"""


async def assert_exact(conn: AsyncConnection | asyncpg.Connection) -> None:
    """Every counter key sums to COUNT(*) of its rows, and no rows are counted that are not there."""
    for drift in (RUN_DRIFT, REFINEMENT_DRIFT):
        if isinstance(conn, asyncpg.Connection):
            rows = await conn.fetch(drift)
        else:
            rows = (await conn.execute(text(drift))).all()
        assert [tuple(r) for r in rows] == []


async def _token(conn: AsyncConnection) -> uuid.UUID:
    token_id = uuid.uuid4()
    await conn.execute(
        text("INSERT INTO api_tokens (id, name, token_hash) VALUES (:id, 't', :hash)"),
        {"id": token_id, "hash": token_id.hex * 2},
    )
    return token_id


async def _run_with_image(conn: AsyncConnection) -> tuple[uuid.UUID, uuid.UUID]:
    run_id, image_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(text("INSERT INTO runs (id, status) VALUES (:id, 'COMPLETED')"), {"id": run_id})
    await conn.execute(
        text("INSERT INTO images (id, run_id, generation_index, path, width, height) VALUES (:id, :run, 0, 'p', 1, 1)"),
        {"id": image_id, "run": run_id},
    )
    return run_id, image_id


async def test_counts_follow_inserts_updates_deletes_and_truncate(clean_db: AsyncEngine):
    async with clean_db.begin() as conn:
        token_a, token_b = await _token(conn), await _token(conn)
        await conn.execute(text(RUNS), {"status": "QUEUED", "owner": None, "n": 50})
        await conn.execute(text(RUNS), {"status": "COMPLETED", "owner": token_a, "n": 30})
        await conn.execute(text(RUNS), {"status": "RUNNING", "owner": token_b, "n": 20})
        await assert_exact(conn)
        await conn.execute(text("UPDATE runs SET status = 'COMPLETED' WHERE status = 'RUNNING'"))
        await conn.execute(text("UPDATE runs SET prompt = 'no count change' WHERE status = 'QUEUED'"))
        await assert_exact(conn)
        # ON DELETE SET NULL moves the token's runs to the open bucket through the update trigger.
        await conn.execute(text("DELETE FROM api_tokens WHERE id = :id"), {"id": token_b})
        await conn.execute(text("DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE status = 'QUEUED' LIMIT 7)"))
        await assert_exact(conn)
        assert (await conn.execute(text("SELECT count(*) FROM runs WHERE owner_token_id IS NULL"))).scalar() == 63

        run_id, image_id = await _run_with_image(conn)
        other_run, other_image = await _run_with_image(conn)
        for type_, status, n in (("PROMPT", "QUEUED", 12), ("TEXT", "COMPLETED", 5), ("SUBJECT", "FAILED", 3)):
            await conn.execute(
                text(REFINEMENTS), {"run": run_id, "image": image_id, "type": type_, "status": status, "n": n}
            )
        await conn.execute(
            text(REFINEMENTS), {"run": other_run, "image": other_image, "type": "PROMPT", "status": "QUEUED", "n": 4}
        )
        await conn.execute(text("UPDATE refinements SET status = 'RUNNING' WHERE type = 'PROMPT'"))
        await conn.execute(text("UPDATE refinements SET type = 'PROMPT' WHERE type = 'TEXT'"))
        await conn.execute(text("DELETE FROM refinements WHERE type = 'SUBJECT'"))
        await assert_exact(conn)
        # A run's deletion cascades to its images and refinements; its counter rows go too.
        await conn.execute(text("DELETE FROM runs WHERE id = :id"), {"id": other_run})
        await assert_exact(conn)
        left = await conn.execute(text("SELECT count(*) FROM refinement_counts WHERE run_id = :id"), {"id": other_run})
        assert left.scalar() == 0
    async with clean_db.begin() as conn:
        await conn.execute(text("TRUNCATE runs CASCADE"))
        await assert_exact(conn)
        kept = await conn.execute(
            text("SELECT (SELECT count(*) FROM run_counts) + (SELECT count(*) FROM refinement_counts)")
        )
        assert kept.scalar() == 0


async def test_a_rolled_back_change_leaves_the_counts_alone(clean_db: AsyncEngine):
    async with clean_db.connect() as conn:
        async with conn.begin() as tx:
            await conn.execute(text(RUNS), {"status": "QUEUED", "owner": None, "n": 5})
            await tx.rollback()
        await assert_exact(conn)
        assert (await conn.execute(text("SELECT count(*) FROM run_counts"))).scalar() == 0


async def test_concurrent_inserts_into_one_run_stay_exact_and_wait_for_nothing(clean_db: AsyncEngine):
    async with clean_db.begin() as conn:
        run_id, image_id = await _run_with_image(conn)
    version = iter(range(2, 10_000))

    async def writer(k: int) -> None:
        for i in range(12):
            async with clean_db.connect() as conn:
                # One in five transactions rolls back; one in seven runs REPEATABLE READ (no folding there).
                level = "REPEATABLE READ" if (k + i) % 7 == 0 else "READ COMMITTED"
                conn = await conn.execution_options(isolation_level=level)
                async with conn.begin() as tx:
                    # Inserts hold no lock another insert into the same run needs: a waiter would time out.
                    await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                    await conn.execute(
                        text(REFINEMENTS.replace("1 + i", ":v")),
                        {
                            "run": run_id,
                            "image": image_id,
                            "type": "PROMPT",
                            "status": "QUEUED",
                            "n": 1,
                            "v": next(version),
                        },
                    )
                    if i % 3 == 0 and level == "READ COMMITTED":
                        await conn.execute(
                            text(
                                "UPDATE refinements SET status = 'RUNNING' WHERE id IN "
                                "(SELECT id FROM refinements WHERE run_id = :run AND status = 'QUEUED' LIMIT 1)"
                            ),
                            {"run": run_id},
                        )
                    if (k + i) % 5 == 0:
                        await tx.rollback()

    await asyncio.gather(*(writer(k) for k in range(16)))
    async with clean_db.connect() as conn:
        await assert_exact(conn)
        stored = (await conn.execute(text("SELECT count(*) FROM refinements"))).scalar()
        assert stored and stored > 100
        # Folding keeps the key's rows far fewer than the ~200 deltas written.
        rows = (
            await conn.execute(text("SELECT count(*) FROM refinement_counts WHERE run_id = :r"), {"r": run_id})
        ).scalar()
        assert rows is not None and rows < 80


async def test_folding_keeps_a_few_rows_per_key(clean_db: AsyncEngine):
    async with clean_db.begin() as conn:
        for _ in range(200):
            await conn.execute(text(RUNS), {"status": "QUEUED", "owner": None, "n": 1})
        await assert_exact(conn)
        rows = (await conn.execute(text("SELECT count(*) FROM run_counts"))).scalar()
        assert rows is not None and rows <= 16


async def test_migration_backfills_the_counts(engine: AsyncEngine):
    url = TEST_DATABASE_URL + "_counts"
    await recreate_database(url)
    config = alembic_config(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await asyncio.to_thread(run_in_thread, command.upgrade, config, "0005")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO runs (id, status) SELECT gen_random_uuid(), s FROM unnest($1::text[]) AS s, generate_series(1, 3)",
            ["QUEUED", "COMPLETED", "FAILED"],
        )
        run_id = await conn.fetchval("SELECT id FROM runs LIMIT 1")
        image_id = await conn.fetchval(
            "INSERT INTO images (id, run_id, generation_index, path, width, height)"
            " VALUES (gen_random_uuid(), $1, 0, 'p', 1, 1) RETURNING id",
            run_id,
        )
        await conn.execute(
            "INSERT INTO refinements (id, run_id, parent_image_id, generation_index, version, type, status)"
            " SELECT gen_random_uuid(), $1, $2, 0, 1 + i, 'TEXT', 'COMPLETED' FROM generate_series(1, 4) AS i",
            run_id,
            image_id,
        )
        await asyncio.to_thread(run_in_thread, command.upgrade, config, "head")
        await assert_exact(conn)
        assert await conn.fetchval("SELECT sum(n) FROM run_counts WHERE status = 'QUEUED'") == 3
        assert await conn.fetchval("SELECT sum(n) FROM refinement_counts WHERE run_id = $1", run_id) == 4
        await asyncio.to_thread(run_in_thread, command.downgrade, config, "0005")
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert not {"run_counts", "refinement_counts"} & tables
        await conn.execute("DELETE FROM runs WHERE status = 'FAILED'")  # no triggers now: nothing to keep
        await asyncio.to_thread(run_in_thread, command.upgrade, config, "head")
        await assert_exact(conn)
    finally:
        await conn.close()


def _counting(statements: list[str]) -> list[str]:
    """Statements that count runs or refinements row by row."""
    return [s for s in statements if "count(" in s.lower() and ("runs" in s or "refinements" in s)]


async def test_total_count_reads_the_counters(client: Any, services: Any, clean_db: AsyncEngine, count_queries: Any):
    async with services.db() as session:
        session.add_all(Run(id=uuid.uuid4(), status=s) for s in [JobStatus.QUEUED] * 3 + [JobStatus.COMPLETED] * 2)
        await session.commit()
    count_queries.statements.clear()
    data = await client.data(
        "{ runs(first: 1) { totalCount } q: runs(status: QUEUED) { totalCount edges { cursor } } }"
    )
    assert data["runs"]["totalCount"] == 5 and data["q"]["totalCount"] == 3
    assert _counting(count_queries.statements) == []
    # The count-only `runs` goes to asyncpg directly, past this counter (tests/test_read_sessions.py sees it).
    assert sum("run_counts" in s for s in count_queries.statements) == 1

    run = (await import_images(client, [png_bytes()]))["run"]
    run_id, image_id = decode_id_of(run["id"], "Run"), decode_id_of(run["images"][0]["id"], "Image")
    async with clean_db.begin() as conn:
        for type_, status, n in (("PROMPT", "QUEUED", 4), ("TEXT", "QUEUED", 2), ("PROMPT", "FAILED", 1)):
            await conn.execute(
                text(REFINEMENTS), {"run": run_id, "image": image_id, "type": type_, "status": status, "n": n}
            )
    query = """query($id: ID!) { run(id: $id) { a: refinements { totalCount }
        b: refinements(type: PROMPT, status: QUEUED) { totalCount edges { cursor } } } }"""
    count_queries.statements.clear()
    data = await client.data(query, {"id": run["id"]})
    assert data["run"]["a"]["totalCount"] == 7 and data["run"]["b"]["totalCount"] == 4
    assert _counting(count_queries.statements) == []
    assert sum("refinement_counts" in s for s in count_queries.statements) == 2
