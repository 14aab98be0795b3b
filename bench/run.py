"""Orchestration: prepare the database and Redis, start the server and worker, run the scenarios, print one table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import Ctx, Row, Sizes
from bench.stack import ROOT, Stack, Target, flush_redis, machine, prepare, wait_quiet

RESULTS = ROOT / "bench" / "results"

Scenario = Callable[[Ctx], Awaitable[Row | list[Row]]]


def scenarios() -> list[tuple[str, Scenario]]:
    """Every scenario in the order they run: memory first on a fresh server, the queue flood last."""
    from bench.events import p1_notify_latency, p2_idle_memory
    from bench.growth import p8_growth
    from bench.refine import p6_offline_refinement, p7_worker_throughput
    from bench.throughput import p4_trivial_query, p5_refine_enqueue
    from bench.tree import p3_tree_query

    return [
        ("P2", p2_idle_memory),
        ("P1", p1_notify_latency),
        ("P3", p3_tree_query),
        ("P4", p4_trivial_query),
        ("P6", p6_offline_refinement),
        ("P7", p7_worker_throughput),
        ("P5", p5_refine_enqueue),
        ("P8", p8_growth),
    ]


def _runner() -> asyncio.Runner:
    """An asyncio runner on uvloop when installed (a cheaper client means less noise in the figures)."""
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.Runner()


async def run_all(
    stack: Stack, target: Target, sizes: Sizes, smoke: bool, only: set[str], timeout_s: float, quiet_wait_s: float
) -> list[Row]:
    """Run each selected scenario once; a failing scenario becomes a row with its error, the rest still run."""
    from churns_gql.db import make_engine, make_sessionmaker

    engine = make_engine(target.database_url)
    rows: list[Row] = []
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
            ctx = Ctx(stack=stack, target=target, sizes=sizes, smoke=smoke, http=http, db=make_sessionmaker(engine))
            for name, scenario in scenarios():
                if only and name not in only:
                    continue
                # Other processes on the machine skew every figure; note how busy it was just before.
                background = await asyncio.to_thread(wait_quiet, quiet_wait_s, window_s=1.0 if quiet_wait_s else 0.2)
                load_1m = os.getloadavg()[0]
                started = time.monotonic()
                print(f"[bench] {name} ... (machine {background:.0%} busy beforehand)", flush=True)
                try:
                    result = await asyncio.wait_for(scenario(ctx), timeout=timeout_s)
                    produced = result if isinstance(result, list) else [result]
                except Exception as exc:
                    traceback.print_exc()
                    reason = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else "")
                    produced = [Row(name, "(failed)", error=f"{exc.__class__.__name__}: {reason}"[:500])]
                for row in produced:
                    row.details["scenario_s"] = round(time.monotonic() - started, 1)
                    row.details["machine_busy_before"] = background
                    row.details["loadavg_1m_before"] = round(load_1m, 2)
                rows += produced
                print(f"[bench] {name} done in {time.monotonic() - started:.1f}s", flush=True)
    finally:
        await engine.dispose()
    return sorted(rows, key=lambda r: r.id)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def table(rows: list[Row], smoke: bool) -> str:
    """The results as one Markdown table."""
    lines = [
        "| # | Scenario | Figure | Floor / peer (same run) | Ratio | Target | Met? | Checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.error:
            met, checks = "—", f"ERROR: {r.error}"
        else:
            met = "n/a (smoke)" if smoke else ("—" if r.met is None else ("yes" if r.met else "**no**"))
            failed = [name for name, ok in r.checks.items() if not ok]
            checks = "ok" if r.ok else "FAILED: " + "; ".join(failed)
        ratio = "—" if r.ratio is None else f"{r.ratio:g}×"
        lines.append(
            f"| {r.id} | {_cell(r.scenario)} | {_cell(r.figure_text)} | {_cell(r.reference_text)} | {ratio} "
            f"| {_cell(r.target)} | {met} | {_cell(checks)} |"
        )
    return "\n".join(lines)


def _argv(command: str | None) -> list[str] | None:
    """A command line split like a shell would, with {python} standing for this interpreter."""
    if not command:
        return None
    return [sys.executable if part == "{python}" else part for part in shlex.split(command)]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the table, write the JSON; 1 when a correctness check failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. P1,P3")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a size, e.g. --set p2_connections=20 (see bench/common.py Sizes)",
    )
    parser.add_argument("--out", type=Path, help="JSON results path (default bench/results/latest.json, smoke.json)")
    parser.add_argument("--database", help="database name (default churns_bench, churns_bench_smoke with --smoke)")
    parser.add_argument("--redis-db", type=int, help="Redis db number (default 14, 13 with --smoke)")
    parser.add_argument(
        "--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432", help="Postgres server URL without the database"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server URL without the db")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the server and worker logs")
    parser.add_argument("--timeout", type=float, help="seconds one scenario may take (default 900, 90 with --smoke)")
    parser.add_argument(
        "--api-cmd",
        help="A/B experiments: run this instead of `churns-gql serve` "
        "({python} is this interpreter); it must honour the CHURNS_* settings",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds to wait before each scenario for the machine to be under 15%% busy (default 20, 0 with --smoke)",
    )
    parser.add_argument("--worker-cmd", help="A/B experiments: run this instead of `churns-gql worker`")
    args = parser.parse_args(argv)

    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    sizes.override(args.set)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    database = args.database or ("churns_bench_smoke" if args.smoke else "churns_bench")
    redis_db = args.redis_db if args.redis_db is not None else (13 if args.smoke else 14)
    out = args.out or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    timeout_s = args.timeout or (90.0 if args.smoke else 900.0)
    quiet_wait_s = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.smoke else 20.0)

    tmp = Path(tempfile.mkdtemp(prefix="churns-bench-"))
    (tmp / "logs").mkdir()
    target = Target(
        database_url=f"{args.pg.rstrip('/')}/{database}",
        redis_url=f"{args.redis.rstrip('/')}/{redis_db}",
        data_dir=tmp / "data",
        log_dir=tmp / "logs",
    )
    started = time.monotonic()
    stack = Stack(target, _argv(args.api_cmd), _argv(args.worker_cmd))
    rows: list[Row] = []
    try:
        print(f"[bench] database {database}, Redis db {redis_db}, data in {tmp}", flush=True)
        prepare(target)
        stack.start_api()
        stack.start_worker()
        print(f"[bench] API on {stack.base_url} (pid {stack.require_api().pid})", flush=True)
        with _runner() as runner:
            rows = runner.run(run_all(stack, target, sizes, args.smoke, only, timeout_s, quiet_wait_s))
    except Exception as exc:
        traceback.print_exc()
        for child in (stack.api, stack.worker):
            if child is not None:
                print(f"--- {child.name} log ---\n{child.log_tail(40)}", file=sys.stderr)
        rows.append(Row("setup", "(failed)", error=f"{exc.__class__.__name__}: {exc}"[:500]))
    finally:
        stack.stop()
        with contextlib.suppress(Exception):
            asyncio.run(flush_redis(target.redis_url))
        if args.keep_logs:
            print(f"[bench] logs kept in {tmp / 'logs'}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report: dict[str, Any] = {
        "mode": "smoke" if args.smoke else "full",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine(),
        "sizes": asdict(sizes),
        "all_checks_passed": bool(rows) and all(r.ok for r in rows),
        "rows": [asdict(r) | {"ok": r.ok} for r in rows],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    m = report["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}")
    print(table(rows, args.smoke))
    for row in rows:
        busy = row.details.get("machine_busy_before", 0.0)
        if busy >= 0.15:
            print(
                f"note: {row.id} started with the machine {busy:.0%} busy from other processes; its figures are pessimistic"
            )
    print(f"\n[bench] {report['mode']} run in {report['duration_s']}s; JSON in {out}")
    return 0 if report["all_checks_passed"] else 1
