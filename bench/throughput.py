"""P4 (trivial query requests/s against a bare Strawberry peer) and P5 (refineImage accepted and enqueued per second)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, replace

from sqlalchemy import func, select

from bench.common import Ctx, Row, raw_id
from bench.floors import refine_floor
from bench.gql import REFINE, import_run, png, refine_variables
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.sqlcount import count_in_process
from bench.stack import HOST, cpu_seconds

TRIVIAL = "{ __typename }"
WITH_DB = "{ runs(first: 1) { totalCount } }"


async def _load(spec: LoadSpec, pid: int) -> tuple[LoadResult, float]:
    """Run the load in its own process; returns its result and the server's CPU µs per good request."""
    before = cpu_seconds(pid)
    result = await asyncio.to_thread(run_load, spec)
    used = cpu_seconds(pid) - before
    return result, round(used * 1e6 / max(1, result.total_ok), 1)


def _spec(ctx: Ctx, port: int, query: str, ok_path: tuple[str, ...]) -> LoadSpec:
    """The P4 load for one query against one port."""
    sizes = ctx.sizes
    return LoadSpec(
        host=HOST,
        port=port,
        path="/graphql",
        body=json.dumps({"query": query}).encode(),
        connections=sizes.p4_connections,
        duration_s=sizes.p4_duration_s,
        warmup_s=sizes.p4_warmup_s,
        ok_path=ok_path,
    )


def _combine(parts: list[tuple[LoadResult, float]]) -> tuple[LoadResult, float]:
    """One result from several legs: counts summed, rate over the summed windows, the median leg's p50."""
    results = [r for r, _ in parts]
    duration = sum(r.duration_s for r in results)
    ok = sum(r.ok for r in results)
    combined = LoadResult(
        duration_s=duration,
        ok=ok,
        bad=sum(r.bad for r in results),
        rps=round(ok / duration, 1) if duration else 0.0,
        p50_ms=sorted(r.p50_ms for r in results)[len(results) // 2],
        p99_ms=max(r.p99_ms for r in results),
        total_ok=sum(r.total_ok for r in results),
        total_bad=sum(r.total_bad for r in results),
        first_bad=next((r.first_bad for r in results if r.first_bad), None),
    )
    cpu = sum(c * r.total_ok for r, c in parts) / max(1, combined.total_ok)
    return combined, round(cpu, 1)


async def p4_trivial_query(ctx: Ctx) -> list[Row]:
    """P4: `{ __typename }` requests/s on the API and on the bare Strawberry app, same load, same uvicorn settings.

    The two are measured in A-B-B-A legs of half the duration each, so that a drift in background load
    hits both alike.
    """
    sizes = ctx.sizes
    what = f"{sizes.p4_connections} keep-alive connections, {sizes.p4_duration_s:g} s"
    half = replace(_spec(ctx, ctx.api_port, TRIVIAL, ("data", "__typename")), duration_s=sizes.p4_duration_s / 2)
    # Started from this thread: the child is tied to its parent thread's life (PR_SET_PDEATHSIG).
    peer_child, peer_url = ctx.stack.start_peer()
    try:
        peer_spec = replace(half, port=int(peer_url.rsplit(":", 1)[1]))
        legs: dict[str, list[tuple[LoadResult, float]]] = {"api": [], "peer": []}
        for who in ("api", "peer", "peer", "api"):
            spec, pid = (half, ctx.api_pid) if who == "api" else (peer_spec, peer_child.pid)
            legs[who].append(await _load(spec, pid))
    finally:
        peer_child.stop()
    (app, app_cpu), (peer, peer_cpu) = _combine(legs["api"]), _combine(legs["peer"])
    db, db_cpu = await _load(_spec(ctx, ctx.api_port, WITH_DB, ("data", "runs")), ctx.api_pid)

    row = Row("P4", f"`{TRIVIAL}` requests/s ({what} each, legs A-B-B-A)", target="≥ 3× bare Strawberry")
    row.figure, row.figure_text = app.rps, f"{app.rps:,.0f} req/s (p50 {app.p50_ms:.1f} ms)"
    row.reference, row.reference_text = peer.rps, f"bare Strawberry {peer.rps:,.0f} req/s (p50 {peer.p50_ms:.1f} ms)"
    row.ratio = round(app.rps / peer.rps, 2) if peer.rps else None
    row.met = row.ratio is not None and row.ratio >= 3.0
    row.checks = {
        "every API answer was correct": app.ok > 0 and app.total_bad == 0,
        "every peer answer was correct": peer.ok > 0 and peer.total_bad == 0,
    }
    row.details = {
        "api": asdict(app),
        "peer": asdict(peer),
        "api_server_cpu_us_per_request": app_cpu,
        "peer_server_cpu_us_per_request": peer_cpu,
        "legs": "api, peer, peer, api",
        "leg_rps": {who: [r.rps for r, _ in parts] for who, parts in legs.items()},
    }

    ctx.shared["peer_rps"] = peer.rps
    extra = Row("P4+", f"`{WITH_DB}` requests/s ({what})", target="≥ 1× bare Strawberry (peer as in P4)")
    extra.figure, extra.figure_text = db.rps, f"{db.rps:,.0f} req/s (p50 {db.p50_ms:.1f} ms)"
    extra.reference, extra.reference_text = row.reference, row.reference_text
    extra.ratio = round(db.rps / peer.rps, 2) if peer.rps else None
    extra.met = extra.ratio is not None and extra.ratio >= 1.0
    extra.checks = {"every answer was correct": db.ok > 0 and db.total_bad == 0}
    extra.details = {"api": asdict(db), "api_server_cpu_us_per_request": db_cpu}
    return [row, extra]


async def p5_refine_enqueue(ctx: Ctx) -> list[Row]:
    """P5: refineImage (no upload) accepted and enqueued per second, with the worker stopped so jobs stay queued."""
    from redis.asyncio import Redis

    from churns_gql.models import Refinement

    sizes = ctx.sizes
    run = await import_run(ctx.http, [png(64, 48)])
    parent = run["images"][0]["id"]
    # A running worker would compete for the two cores and drain the queue we want to inspect.
    await asyncio.to_thread(ctx.stack.stop_worker)
    # What one refineImage costs in SQL, on a run of its own so the checks below stay exact.
    counted_run = await import_run(ctx.http, [png(64, 48)])
    counted = await count_in_process(ctx, REFINE, refine_variables(counted_run["images"][0]["id"], "warmer"))
    body = json.dumps({"query": REFINE, "variables": refine_variables(parent, "warmer")}).encode()
    spec = LoadSpec(
        host=HOST,
        port=ctx.api_port,
        path="/graphql",
        body=body,
        connections=sizes.p5_connections,
        duration_s=sizes.p5_duration_s,
        warmup_s=sizes.p5_warmup_s,
        ok_path=("data", "refineImage", "refinement", "id"),
        empty_path=("data", "refineImage", "userErrors"),
    )
    started = time.monotonic()
    result, cpu_us = await _load(spec, ctx.api_pid)
    wall = time.monotonic() - started
    floor = await refine_floor(ctx, raw_id(parent), sizes.p5_connections, sizes.p5_duration_s, sizes.p5_warmup_s)
    run_id = raw_id(run["id"])
    async with ctx.db() as session:
        rows = (
            await session.execute(
                select(Refinement.status, func.count()).where(Refinement.run_id == run_id).group_by(Refinement.status)
            )
        ).all()
        ids = {str(i) for i in (await session.scalars(select(Refinement.id).where(Refinement.run_id == run_id))).all()}
    by_status = {status.value: count for status, count in rows}
    redis = Redis.from_url(ctx.target.redis_url, socket_connect_timeout=5)
    try:
        queued = {m.decode() for m in await redis.zrange("arq:queue", 0, -1)}
    finally:
        await redis.aclose()
    row = Row(
        "P5",
        f"`refineImage` (no upload) accepted + enqueued ({sizes.p5_connections} connections, "
        f"{sizes.p5_duration_s:g} s, worker stopped)",
        target="info (ratio to the direct floor)",
    )
    row.figure, row.figure_text = result.rps, f"{result.rps:,.0f} /s (p50 {result.p50_ms:.1f} ms)"
    row.reference = floor["rps"]
    row.reference_text = (
        f"same INSERT + NOTIFY + arq enqueue from the bench process {floor['rps']:,.0f} /s "
        f"(p50 {floor['p50_ms']:.1f} ms)"
    )
    row.ratio = round(result.rps / floor["rps"], 2) if floor["rps"] else None
    row.checks = {
        "every request accepted": result.ok > 0 and result.total_bad == 0,
        "every accepted refinement stored QUEUED": by_status == {"QUEUED": result.total_ok},
        "every accepted refinement is on the arq queue": ids <= queued and len(ids) == result.total_ok,
        "the floor stored and enqueued every job": floor["ok"] > 0
        and floor["stored"] == floor["enqueued"] == floor["total"],
    }
    row.details = {
        "load": asdict(result),
        "server_cpu_us_per_request": cpu_us,
        "sql_statements_per_request": counted["statements"],
        "wire_round_trips_per_request": counted["wire_round_trips"],
        "statement_heads": counted["statement_heads"],
        "rows_by_status": by_status,
        "arq_queue_length": len(queued),
        "wall_s": round(wall, 1),
        "floor": floor,
    }
    peer_rps = ctx.shared.get("peer_rps")
    hello = Row(
        "P5+",
        "`refineImage` accepted + enqueued against bare Strawberry's hello world (P4's peer)",
        target="≥ 1× bare Strawberry",
    )
    hello.figure, hello.figure_text = row.figure, row.figure_text
    if peer_rps:
        hello.reference, hello.reference_text = peer_rps, f"bare Strawberry {peer_rps:,.0f} req/s (P4)"
        hello.ratio = round(result.rps / peer_rps, 2)
        hello.met = hello.ratio >= 1.0
    hello.checks = {"every request accepted": row.checks["every request accepted"]}
    return [row, hello]
