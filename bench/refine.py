"""P6: each offline operation on a large image through the API and worker vs the editor alone; P7: jobs/s with 2 workers."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from bench.common import Ctx, Row, ms, pct, raw_id
from bench.gql import execute, import_run, refine_input
from bench.scenes import Op, operations
from bench.stack import HOST, cpu_seconds
from bench.wsclient import GqlWs, connect

PROGRESS = "subscription($id: ID!) { refinementProgress(id: $id) { seq stage status progress terminal } }"
DETAILS = """query($id: ID!) { refinement(id: $id) {
  status createdAt startedAt completedAt stages { name durationMs } } }"""


async def one_job(ctx: Ctx, ws: GqlWs, parent: str, op: Op, op_id: str) -> tuple[str, int, str]:
    """Send refineImage, follow it, and return (refinement id, ns to its terminal event, final status)."""
    started = time.perf_counter_ns()
    ref_id = await refine_input(ctx.http, op.variables(parent), op.reference)
    ws.subscribe(op_id, PROGRESS, {"id": ref_id})
    for _ in range(10_000):
        message = await ws.wait_message(lambda m: m.get("id") == op_id, timeout=120)
        if message["type"] != "next":
            raise RuntimeError(f"refinementProgress ended without a terminal event: {message}")
        event = ((message.get("payload") or {}).get("data") or {}).get("refinementProgress")
        if event is None:
            raise RuntimeError(f"refinementProgress failed: {message}")
        if event["terminal"]:
            elapsed = message["_at_ns"] - started
            done = await ws.wait_message(lambda m: m.get("id") == op_id, timeout=10)
            if done["type"] != "complete":
                raise RuntimeError(f"expected complete after the terminal event, got {done}")
            return ref_id, elapsed, event["status"]
    raise RuntimeError("too many events for one job")


def _decode(data: bytes) -> Any:
    """A PNG as a Pillow image in RGB, or RGBA when it has transparency."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as src:
        return src.convert("RGBA" if "A" in src.getbands() else "RGB")


async def editor_floor(op: Op, repeats: int, cpu: list[float] | None = None) -> list[int]:
    """ns for the offline editor alone in this process: decode the PNG(s), edit, encode the PNG.

    With `cpu`, the process CPU seconds of each timed pass are appended to it (steadier than wall time
    on a busy machine, and comparable with the worker's CPU per job).
    """
    from churns_gql.geometry import Rect
    from churns_gql.images import encode_png
    from churns_gql.providers.base import EditRequest
    from churns_gql.providers.offline import LocalImageEditor

    editor = LocalImageEditor()
    samples = []
    # The first pass loads fonts and OCR models; only later passes are timed.
    for attempt in range(repeats + 1):
        started, cpu_started = time.perf_counter_ns(), time.process_time()
        base = _decode(op.parent)
        reference = _decode(op.reference) if op.reference is not None else None
        rects = [Rect(r["x"], r["y"], r["width"], r["height"]) for r in op.rects]
        result = await editor.edit(
            EditRequest(
                kind=op.kind,
                image=base,
                prompt=op.prompt,  # type: ignore[arg-type]
                instructions=op.instructions,
                rects=rects,
                reference=reference,
            )
        )
        # The same PNG encoding (zlib level) as the worker's save_outputs, so both do the same work.
        await asyncio.to_thread(encode_png, result.image)
        if attempt:
            samples.append(time.perf_counter_ns() - started)
            if cpu is not None:
                cpu.append(time.process_time() - cpu_started)
    return samples


def _ts(value: str | None) -> datetime | None:
    """An ISO timestamp from the API, or None."""
    return datetime.fromisoformat(value) if value else None


async def _stage_details(ctx: Ctx, jobs: list[tuple[str, int, str]]) -> dict[str, Any]:
    """Queue wait, started→completed and per-stage p50 of the jobs, from the API."""
    waits, runs, stages = [], [], defaultdict(list)
    for ref_id, _elapsed, _status in jobs:
        info = (await execute(ctx.http, DETAILS, {"id": ref_id}))["refinement"]
        created, begun, done = _ts(info["createdAt"]), _ts(info["startedAt"]), _ts(info["completedAt"])
        if created and begun and done:
            waits.append((begun - created).total_seconds() * 1e9)
            runs.append((done - begun).total_seconds() * 1e9)
        for stage in info["stages"]:
            if stage["durationMs"] is not None:
                stages[stage["name"]].append(stage["durationMs"])
    return {
        "queue_wait_p50_ms": ms(pct(waits, 50)),
        "started_to_completed_p50_ms": ms(pct(runs, 50)),
        "stage_p50_ms": {name: pct(values, 50) for name, values in stages.items()},
    }


async def p6_offline_refinement(ctx: Ctx) -> list[Row]:
    """P6: per operation, sequential jobs through the API and worker against the editor alone in this process."""
    sizes = ctx.sizes
    px = sizes.p6_image_px
    rows = []
    ws = await connect(HOST, ctx.api_port, timeout=30)
    try:
        for index, op in enumerate(operations(px)):
            run = await import_run(ctx.http, [op.parent])
            parent = run["images"][0]["id"]
            row = Row(
                f"P6.{index + 1}",
                f"offline {op.name} on a {px}×{px} image, refineImage → terminal event "
                f"({sizes.p6_jobs} sequential jobs, worker running)",
                target="≤ 1.1× the editor alone",
            )
            await one_job(ctx, ws, parent, op, f"warm-{index}")
            jobs = [await one_job(ctx, ws, parent, op, f"job-{index}-{i}") for i in range(sizes.p6_jobs)]
            floor_cpu: list[float] = []
            floor = await editor_floor(op, max(1, min(5, sizes.p6_jobs)), floor_cpu)
            latencies = [elapsed for _, elapsed, _ in jobs]
            p50, p90, f50 = ms(pct(latencies, 50)), ms(pct(latencies, 90)), ms(pct(floor, 50))
            row.figure, row.figure_text = p50, f"p50 {p50:.0f} ms (p90 {p90:.0f})"
            row.reference, row.reference_text = f50, f"editor alone (decode+edit+encode) p50 {f50:.0f} ms"
            row.ratio = round(p50 / f50, 2) if f50 else None
            row.met = row.ratio is not None and row.ratio <= 1.1
            row.checks = {
                "every job reached a terminal event": len(jobs) == sizes.p6_jobs,
                "every job COMPLETED": all(status == "COMPLETED" for _, _, status in jobs),
            }
            row.details = {
                "operation": op.name,
                "jobs": len(jobs),
                "p50_ms": p50,
                "p90_ms": p90,
                "max_ms": ms(pct(latencies, 100)),
                "editor_alone_p50_ms": f50,
                "editor_alone_samples_ms": [ms(v) for v in floor],
                # CPU seconds of the same passes: what the editor costs without the waits other load adds.
                "editor_alone_cpu_p50_ms": round(1000 * sorted(floor_cpu)[len(floor_cpu) // 2], 1)
                if floor_cpu
                else None,
                "image_png_bytes": len(op.parent),
                **await _stage_details(ctx, jobs),
            }
            rows.append(row)
    finally:
        ws.close()
    return rows


async def _statuses(ctx: Ctx, ids: list[str]) -> dict[str, str]:
    """Status of each refinement, read straight from the database (cheaper than a query per job)."""
    from sqlalchemy import select

    from churns_gql.models import Refinement

    async with ctx.db() as session:
        found = (
            await session.execute(
                select(Refinement.id, Refinement.status).where(Refinement.id.in_([raw_id(i) for i in ids]))
            )
        ).all()
    return {str(rid): status.value for rid, status in found}


async def p7_worker_throughput(ctx: Ctx) -> Row:
    """P7: N refinements submitted at once, 2 worker processes: jobs/s against 80 % of cores ÷ editor-alone time."""
    sizes = ctx.sizes
    px, n = sizes.p6_image_px, sizes.p7_jobs
    ops = operations(px)
    cores = os.cpu_count() or 1
    floor_cpu: list[float] = []
    floors = [ms(pct(await editor_floor(op, 2, floor_cpu), 50)) for op in ops]
    editor_mean_s = sum(floors) / len(floors) / 1000
    editor_cpu_s = sum(floor_cpu) / max(1, len(floor_cpu))
    parents = [(await import_run(ctx.http, [op.parent]))["images"][0]["id"] for op in ops]
    second = await asyncio.to_thread(ctx.stack.start_extra_worker, "worker-2")
    workers = [ctx.stack.require_worker(), second]
    terminal = {"COMPLETED", "FAILED", "CANCELLED"}
    try:
        cpu_before = [cpu_seconds(w.pid) for w in workers]
        started = time.monotonic()
        ids = list(
            await asyncio.gather(
                *(
                    refine_input(
                        ctx.http, ops[i % len(ops)].variables(parents[i % len(ops)]), ops[i % len(ops)].reference
                    )
                    for i in range(n)
                )
            )
        )
        statuses: dict[str, str] = {}
        deadline = started + max(60.0, n * 10.0)
        while time.monotonic() < deadline:
            statuses = await _statuses(ctx, ids)
            if len(statuses) == n and all(s in terminal for s in statuses.values()):
                break
            await asyncio.sleep(0.1)
        wall = time.monotonic() - started
        cpu_used = sum(cpu_seconds(w.pid) for w in workers) - sum(cpu_before)
    finally:
        await asyncio.to_thread(second.stop)
    rate = n / wall
    expected = 0.8 * cores / editor_mean_s
    row = Row(
        "P7",
        f"{n} concurrent offline refinements of {px}×{px} images (the 4 operations in turn), 2 workers",
        target="≥ 80 % of cores ÷ editor-alone time",
    )
    row.figure, row.figure_text = round(rate, 2), f"{rate:.2f} jobs/s; workers used {cpu_used / wall:.2f} cores"
    row.reference = round(cores / editor_mean_s, 2)
    row.reference_text = (
        f"{cores} cores ÷ editor alone (mean of ops {editor_mean_s * 1000:.0f} ms) = {row.reference} jobs/s"
    )
    row.ratio = round(rate / row.reference, 2)
    row.met = rate >= expected
    row.checks = {
        "every job finished": len(statuses) == n and all(s in terminal for s in statuses.values()),
        "every job COMPLETED": list(statuses.values()).count("COMPLETED") == n,
    }
    row.details = {
        "jobs": n,
        "wall_s": round(wall, 2),
        "jobs_per_s": round(rate, 3),
        "cores": cores,
        "editor_alone_p50_ms_by_op": dict(zip([op.name for op in ops], floors, strict=False)),
        "worker_cpu_s": round(cpu_used, 2),
        "worker_cores_used": round(cpu_used / wall, 2),
        "worker_cpu_s_per_job": round(cpu_used / n, 3),
        # The same jobs' editor work alone (mean over the ops and passes): the worker's overhead on top of it,
        # read off CPU time rather than wall time, which other load on the machine stretches.
        "editor_alone_cpu_s_per_job": round(editor_cpu_s, 3),
        "worker_cpu_over_editor_cpu": round(cpu_used / n / editor_cpu_s, 2) if editor_cpu_s else None,
    }
    return row
