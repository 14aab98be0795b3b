"""P8 (growth): how the tree query, the runs list and refinements.json writes scale with the data behind them.

Each curve is printed as time per item returned (or written), so a flat line means the cost grows no
faster than the data.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.common import Ctx, Row, ms, pct, raw_id
from bench.gql import import_run, png
from bench.sqlcount import count_in_process
from bench.tree import levels, tree_query

NESTING = 10
# A 4-ary tree per image: refinement i hangs under refinement i // 4 (the first three under the images), so
# 100,000 refinements are 9 levels deep and one query nested 10 deep returns all of them.
_TREE = """
INSERT INTO refinements (id, run_id, parent_image_id, parent_refinement_id, generation_index, version, type, status,
    prompt, creativity_level, image_path, width, height, summary, cost_usd, created_at, started_at, completed_at)
SELECT md5($1::text || '-' || i)::uuid, $1::text::uuid,
       CASE WHEN i < 4 THEN ($2::uuid[])[1 + (i - 1) % cardinality($2::uuid[])] END,
       CASE WHEN i >= 4 THEN md5($1::text || '-' || (i / 4))::uuid END,
       CASE WHEN i < 4 THEN (i - 1) % cardinality($2::uuid[]) ELSE 0 END,
       2 + floor(log(4, i) + 1e-9)::int, 'PROMPT', 'COMPLETED', 'bench', 2,
       'refinements/' || md5($1::text || '-' || i)::uuid || '.png', 64, 48, 'Prompt: bench', 0,
       now() - interval '1 hour' + i * interval '1 ms', now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, $3) AS i"""
_RUNS = """INSERT INTO runs (id, status, prompt, created_at)
SELECT gen_random_uuid(), 'COMPLETED', 'bench run', now() - interval '1 day' + i * interval '1 ms'
FROM generate_series(1, $1) AS i"""
RUNS_PAGE = "{ runs(first: 20) { totalCount edges { node { id status } } pageInfo { hasNextPage endCursor } } }"


def _ints(text: str) -> list[int]:
    """'1000,10000' → [1000, 10000]."""
    return [int(part) for part in text.split(",") if part.strip()]


def _count_nodes(data: dict[str, Any]) -> int:
    """How many refinements an answer of tree_query holds."""
    total = 0
    stack = [child for image in data["run"]["images"] for child in image["children"]]
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.get("children") or [])
    return total


async def _timed_post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], repeats: int
) -> tuple[list[int], Any]:
    """ns of `repeats` requests after one warm-up, and the first answer's data."""
    samples, first = [], None
    for i in range(repeats + 1):
        started = time.perf_counter_ns()
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        elapsed = time.perf_counter_ns() - started
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"query failed: HTTP {response.status_code}: {response.text[:300]}")
        if i == 0:
            first = body["data"]
        else:
            samples.append(elapsed)
    return samples, first


async def _tree_point(ctx: Ctx, conn: asyncpg.Connection, http: httpx.AsyncClient, size: int) -> dict[str, Any]:
    """One point of the tree curve: a run with `size` refinements, its query's SQL count and latency."""
    from churns_gql.graphql.ids import encode_id

    run = await import_run(ctx.http, [png(32, 24, seed=i) for i in range(4)])
    run_id, images = raw_id(run["id"]), [raw_id(i["id"]) for i in run["images"]]
    started = time.monotonic()
    await conn.execute(_TREE, str(run_id), images, size)
    insert_s = time.monotonic() - started
    deepest = await conn.fetchval(
        "SELECT id FROM refinements WHERE run_id = $1 ORDER BY version DESC, id LIMIT 1", run_id
    )
    variables = {"run": run["id"], "deep": encode_id("Refinement", deepest)}
    query = tree_query(NESTING)
    counted = await count_in_process(ctx, query, variables)
    samples, data = await _timed_post(http, query, variables, 1 if size >= 50_000 else 3)
    returned = _count_nodes(data)
    depth = await conn.fetchval("SELECT max(version) - 1 FROM refinements WHERE run_id = $1", run_id)
    p50 = ms(pct(samples, 50))
    return {
        "refinements": size,
        "returned": returned,
        "p50_ms": p50,
        "us_per_node": round(p50 * 1000 / returned, 1),
        "statements": counted["statements"],
        "wire_round_trips": counted["wire_round_trips"],
        "ancestors_of_deepest": len(data["deepest"]["ancestors"]),
        "deepest_version": depth + 1,
        "insert_s": round(insert_s, 2),
    }


async def _runs_point(ctx: Ctx, conn: asyncpg.Connection, http: httpx.AsyncClient, total: int) -> dict[str, Any]:
    """One point of the runs-list curve: add runs until `total` exist, time the first page."""
    have = await conn.fetchval("SELECT count(*) FROM runs")
    if total > have:
        await conn.execute(_RUNS, total - have)
        await conn.execute("ANALYZE runs")
    counted = await count_in_process(ctx, RUNS_PAGE, {})
    samples, data = await _timed_post(http, RUNS_PAGE, {}, 10)
    page = data["runs"]
    return {
        "runs": max(total, have),
        "p50_ms": ms(pct(samples, 50)),
        "page_items": len(page["edges"]),
        "total_count": page["totalCount"],
        "statements": counted["statements"],
    }


def _index_entry(i: int) -> Any:
    """A typical refinements.json entry, number `i`."""
    from churns_gql.storage import IndexEntry

    job = str(uuid.UUID(int=i + 1))
    return IndexEntry(
        job_id=job,
        parent_image_id=str(uuid.UUID(int=0)),
        parent_image_path="originals/image_0.png",
        image_path=f"refinements/{job}_from_0.png",
        type="prompt",
        summary="Prompt: warmer",
        cost=0.0,
        created_at="2026-12-01T00:00:00+00:00",
    )


async def _json_points(ctx: Ctx, sizes: list[int], writes: int) -> list[dict[str, Any]]:
    """refinements.json: ms per completion recorded into an index already holding each of `sizes` entries.

    Three ways, each on its own run: `storage` times the store's write (`update_index`'s thread body, the
    part that can grow with the index) from one worker; `turns` the same with two workers taking turns,
    as `--scale worker=N` runs them, so each finds an index the other changed since its last write;
    `recorded` the whole production call, `run_index.record` (the run's advisory lock in Postgres, the
    thread hop, then the write), whose database round trip is a constant the ratio should not hide behind.
    The sizes take turns write by write, so a minute of heavier load (fsync times swing ×10 on a busy
    machine) falls on all of them alike.
    """
    from churns_gql.services import run_index
    from churns_gql.storage import RunStorage

    def timed(worker: RunStorage, run_id: uuid.UUID) -> int:
        entry = _index_entry(next(made))
        started = time.perf_counter_ns()
        worker._update_index(run_id, [entry], set())
        return time.perf_counter_ns() - started

    with tempfile.TemporaryDirectory(prefix="churns-bench-index-") as tmp:
        workers = [RunStorage(tmp), RunStorage(tmp)]
        runs = {(n, kind): uuid.uuid4() for n in sizes for kind in ("storage", "turns", "recorded")}
        for (n, _), run_id in runs.items():
            await asyncio.to_thread(workers[0]._update_index, run_id, [_index_entry(i) for i in range(n)], set())
        made = iter(range(max(sizes), max(sizes) + len(sizes) * 10 * writes))
        samples: dict[tuple[int, str], list[int]] = {key: [] for key in runs}
        for i in range(2 * writes):
            for n in sizes:
                if i < writes:
                    samples[n, "storage"].append(await asyncio.to_thread(timed, workers[0], runs[n, "storage"]))
                    started = time.perf_counter_ns()
                    await run_index.record(ctx.db, workers[0], runs[n, "recorded"], [_index_entry(next(made))])
                    samples[n, "recorded"].append(time.perf_counter_ns() - started)
                samples[n, "turns"].append(await asyncio.to_thread(timed, workers[i % 2], runs[n, "turns"]))
        held = {key: (await workers[1].load_index(run_id))["total_refinements"] for key, run_id in runs.items()}
    points = []
    for n in sizes:
        p50 = ms(pct(samples[n, "storage"], 50))
        points.append(
            {
                "entries": n,
                "p50_ms": p50,
                "us_per_entry": round(p50 * 1000 / n, 2),
                "turns_p50_ms": ms(pct(samples[n, "turns"], 50)),
                "recorded_p50_ms": ms(pct(samples[n, "recorded"], 50)),
                "entries_after": [held[n, k] for k in ("storage", "turns", "recorded")],
                "expected_after": [n + writes, n + 2 * writes, n + writes],
            }
        )
    return points


def _growth(points: list[dict[str, Any]], per: str) -> float | None:
    """How much the cost per item grew from the first to the last point (1 = linear in the data)."""
    first, last = points[0][per], points[-1][per]
    return round(last / first, 2) if first else None


async def p8_growth(ctx: Ctx) -> list[Row]:
    """P8: the three curves, each as cost per item so that flat means linear."""
    sizes = ctx.sizes
    conn = await asyncio.wait_for(asyncpg.connect(ctx.target.dsn), timeout=10)
    try:
        async with httpx.AsyncClient(base_url=ctx.stack.base_url, timeout=600) as http:
            tree = [await _tree_point(ctx, conn, http, n) for n in _ints(sizes.p8_sizes)]
            runs = [await _runs_point(ctx, conn, http, n) for n in sorted({1000, sizes.p8_runs})]
    finally:
        await conn.close()
    index = await _json_points(ctx, _ints(sizes.p8_json_entries), 40)

    rows = []
    curve = "; ".join(
        f"{p['refinements']:,}: {p['p50_ms']:.0f} ms, {p['us_per_node']} µs/node, {p['statements']} SQL" for p in tree
    )
    row = Row(
        "P8a",
        "tree query growth (4-ary trees, `children` × 10 + `ancestors`, all nodes returned)",
        target=f"µs per node returned flat; SQL ≤ {levels(NESTING)} at every size",
    )
    row.figure, row.figure_text = tree[-1]["us_per_node"], curve
    row.ratio = _growth(tree, "us_per_node")
    row.reference_text = "cost per node at the smallest size"
    row.met = row.ratio is not None and row.ratio <= 1.5 and all(p["statements"] <= levels(NESTING) for p in tree)
    row.checks = {
        "every refinement returned": all(p["returned"] == p["refinements"] for p in tree),
        "ancestors of the deepest refinement complete": all(
            p["ancestors_of_deepest"] == p["deepest_version"] - 1 for p in tree
        ),
    }
    row.details = {"points": tree}
    rows.append(row)

    row = Row(
        "P8b",
        "runs list first page (20) with totalCount, growing number of runs",
        target="grows no faster than the page (20 items)",
    )
    row.figure, row.figure_text = (
        runs[-1]["p50_ms"],
        "; ".join(f"{p['runs']:,} runs: {p['p50_ms']:.1f} ms" for p in runs),
    )
    row.ratio = round(runs[-1]["p50_ms"] / runs[0]["p50_ms"], 2) if runs[0]["p50_ms"] else None
    row.reference_text = f"first page with {runs[0]['runs']:,} runs"
    row.met = row.ratio is not None and row.ratio <= 1.5
    row.checks = {
        "a full first page and the right total": all(
            p["page_items"] == 20 and p["total_count"] == p["runs"] for p in runs
        )
    }
    row.details = {"points": runs}
    rows.append(row)

    row = Row(
        "P8c",
        "refinements.json write per completion, by entries already in the index",
        target="flat per completion (one entry is added each time), one worker and two taking turns",
    )
    row.figure, row.figure_text = (
        index[-1]["p50_ms"],
        "; ".join(
            f"{p['entries']:,} entries: {p['p50_ms']:.2f} ms ({p['us_per_entry']} µs/entry held), "
            f"two workers {p['turns_p50_ms']:.2f} ms, with the run lock {p['recorded_p50_ms']:.2f} ms"
            for p in index
        ),
    )
    first, last = index[0], index[-1]
    row.ratio = round(last["p50_ms"] / first["p50_ms"], 1) if first["p50_ms"] else None
    turns = round(last["turns_p50_ms"] / first["turns_p50_ms"], 1) if first["turns_p50_ms"] else None
    row.reference_text = f"a completion into {first['entries']:,} entries, {first['p50_ms']:.2f} ms"
    row.met = row.ratio is not None and row.ratio <= 1.5 and turns is not None and turns <= 1.5
    row.checks = {"every completion recorded": all(p["entries_after"] == p["expected_after"] for p in index)}
    row.details = {
        "points": index,
        "two_workers_ratio": turns,
        "note": "a local file grows at its end (in_place.py); a bucket object is rewritten whole",
    }
    rows.append(row)
    return rows
