"""P5's floor: what refineImage writes (parent read, refinement INSERT, event INSERT + NOTIFY, arq enqueue), issued
directly with asyncpg and arq's Redis client from the bench process, with the same concurrency as the load."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.common import Ctx, ms, pct

_PARENT = "SELECT * FROM images WHERE id = $1"
_INSERT = """INSERT INTO refinements (id, run_id, parent_image_id, generation_index, version, type, status, prompt,
    creativity_level, created_at, estimated_cost_usd)
    VALUES ($1, $2, $3, $4, 2, 'PROMPT', 'QUEUED', 'warmer', 2, $5, 0)"""
_EVENT = """WITH e AS (
    INSERT INTO stage_events (job_id, run_id, seq, stage, status, progress, message, terminal, created_at)
    VALUES ($1, $2, 1, 'job', 'PENDING', 0, 'queued', false, $3) RETURNING id, seq)
SELECT e.id, pg_notify('churns_events', json_build_object('id', e.id, 'job', $1::uuid, 'run', $2::uuid,
    'seq', e.seq, 'stage', 'job', 'status', 'PENDING', 'progress', 0, 'message', 'queued', 'cost_usd', null,
    'preview_path', null, 'terminal', false, 'at', $3::timestamptz)::text) FROM e"""
# Its own arq queue, so the API's queue (checked by P5) holds only the API's jobs.
QUEUE = "arq:bench-floor"


async def refine_floor(
    ctx: Ctx, parent_id: uuid.UUID, connections: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    """Requests/s of the bare writes with `connections` concurrent clients; and checks that each was stored."""
    from arq.connections import RedisSettings, create_pool

    pool = await asyncpg.create_pool(ctx.target.dsn, min_size=connections, max_size=connections)
    redis = await create_pool(RedisSettings.from_dsn(ctx.target.redis_url))
    made: list[uuid.UUID] = []
    latencies: list[int] = []
    counting = False
    try:

        async def one() -> None:
            """One refineImage's worth of writes."""
            started = time.perf_counter_ns()
            ref_id = uuid.uuid4()
            async with pool.acquire() as conn:
                parent = await conn.fetchrow(_PARENT, parent_id)
                now = datetime.now(UTC)
                async with conn.transaction():
                    await conn.execute(_INSERT, ref_id, parent["run_id"], parent["id"], parent["generation_index"], now)
                    await conn.fetchrow(_EVENT, ref_id, parent["run_id"], now)
            await redis.enqueue_job("refine", str(ref_id), _job_id=str(ref_id), _queue_name=QUEUE)
            made.append(ref_id)
            if counting:
                latencies.append(time.perf_counter_ns() - started)

        async def client(deadline: float) -> None:
            """Back-to-back requests until the deadline."""
            while time.monotonic() < deadline:
                await one()

        await asyncio.gather(*(client(time.monotonic() + warmup_s) for _ in range(connections)))
        counting = True
        started = time.monotonic()
        await asyncio.gather(*(client(started + duration_s) for _ in range(connections)))
        window = time.monotonic() - started
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM refinements WHERE id = ANY($1::uuid[])", made)
            await conn.execute("DELETE FROM refinements WHERE id = ANY($1::uuid[])", made)
            await conn.execute("DELETE FROM stage_events WHERE job_id = ANY($1::uuid[])", made)
        enqueued = await redis.zcard(QUEUE)
        await redis.delete(QUEUE)
    finally:
        await pool.close()
        await redis.aclose()
    return {
        "rps": round(len(latencies) / window, 1),
        "ok": len(latencies),
        "total": len(made),
        "stored": stored,
        "enqueued": enqueued,
        "p50_ms": ms(pct(latencies, 50)),
        "p99_ms": ms(pct(latencies, 99)),
    }
