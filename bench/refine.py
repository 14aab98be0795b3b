"""P6: offline refinement of a large image, refineImage sent → terminal refinementProgress event, with the worker running."""

from __future__ import annotations

import asyncio
import io
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from bench.common import Ctx, Row, ms, pct
from bench.gql import execute, import_run, png, refine
from bench.stack import HOST
from bench.wsclient import GqlWs, connect

PROGRESS = "subscription($id: ID!) { refinementProgress(id: $id) { seq stage status progress terminal } }"
DETAILS = """query($id: ID!) { refinement(id: $id) {
  status createdAt startedAt completedAt stages { name durationMs } } }"""
PROMPTS = ("warmer and brighter", "more contrast", "cooler and darker", "sharpen", "more saturated")


async def one_job(ctx: Ctx, ws: GqlWs, parent: str, prompt: str, op_id: str) -> tuple[str, int, str]:
    """Send refineImage, follow it, and return (refinement id, ns to its terminal event, final status)."""
    started = time.perf_counter_ns()
    ref_id = await refine(ctx.http, parent, prompt)
    ws.subscribe(op_id, PROGRESS, {"id": ref_id})
    for _ in range(10_000):
        message = await ws.wait_message(lambda m: m.get("id") == op_id, timeout=60)
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


async def editor_floor(image_bytes: bytes, prompt: str, repeats: int) -> list[int]:
    """ns for the offline editor alone in this process: decode the PNG, edit, encode the PNG."""
    from PIL import Image

    from churns_gql.providers.base import EditRequest
    from churns_gql.providers.local import LocalImageEditor

    editor = LocalImageEditor()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        with Image.open(io.BytesIO(image_bytes)) as src:
            base = src.convert("RGB")
        result = await editor.edit(EditRequest(kind="PROMPT", image=base, prompt=prompt))
        out = io.BytesIO()
        await asyncio.to_thread(result.image.save, out, "PNG")
        samples.append(time.perf_counter_ns() - started)
    return samples


def _ts(value: str | None) -> datetime | None:
    """An ISO timestamp from the API, or None."""
    return datetime.fromisoformat(value) if value else None


async def p6_offline_refinement(ctx: Ctx) -> Row:
    """P6: sequential jobs on a textured image; the clock runs from sending refineImage to the terminal event."""
    sizes = ctx.sizes
    px = sizes.p6_image_px
    image = png(px, px, textured=True)
    run = await import_run(ctx.http, [image])
    parent = run["images"][0]["id"]
    row = Row("P6", f"offline refinement of a {px}×{px} image, refineImage → terminal event "
                    f"({sizes.p6_jobs} sequential jobs, worker running)", target="p50 ≤ 300 ms")
    ws = await connect(HOST, ctx.api_port, timeout=30)
    jobs: list[tuple[str, int, str]] = []
    try:
        await one_job(ctx, ws, parent, "warm up", "warm")
        for i in range(sizes.p6_jobs):
            jobs.append(await one_job(ctx, ws, parent, PROMPTS[i % len(PROMPTS)], f"job-{i}"))
    finally:
        ws.close()
    floor = await editor_floor(image, PROMPTS[0], max(1, min(5, sizes.p6_jobs)))
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
    latencies = [elapsed for _, elapsed, _ in jobs]
    p50, p90 = ms(pct(latencies, 50)), ms(pct(latencies, 90))
    f50 = ms(pct(floor, 50))
    row.figure, row.figure_text = p50, f"p50 {p50:.0f} ms (p90 {p90:.0f})"
    row.reference, row.reference_text = f50, f"editor alone (decode+edit+encode) p50 {f50:.0f} ms (info)"
    row.ratio = round(p50 / f50, 1) if f50 else None
    row.met = p50 <= 300.0
    row.checks = {
        "every job reached a terminal event": len(jobs) == sizes.p6_jobs,
        "every job COMPLETED": all(status == "COMPLETED" for _, _, status in jobs),
    }
    stage_p50: dict[str, Any] = {name: pct(values, 50) for name, values in stages.items()}
    row.details = {"jobs": len(jobs), "p50_ms": p50, "p90_ms": p90, "max_ms": ms(pct(latencies, 100)),
                   "queue_wait_p50_ms": ms(pct(waits, 50)), "started_to_completed_p50_ms": ms(pct(runs, 50)),
                   "stage_p50_ms": stage_p50, "editor_alone_p50_ms": f50, "image_png_bytes": len(image)}
    return row
