"""P1 (commit → `next` latency under 1,000 subscriptions, against a raw LISTEN floor) and P2 (RSS per idle subscription)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg

from bench.common import Ctx, Row, ms, pct
from bench.stack import HOST, cpu_seconds, rss_kib
from bench.wsclient import Counter, GqlWs, connect

_FLOOR_WARMUP = 3

RUN_PROGRESS = "subscription($id: ID!) { runProgress(id: $id) { seq jobId stage status progress terminal } }"


async def make_run(ctx: Ctx) -> uuid.UUID:
    """A COMPLETED run row to hang events on (no images needed: runProgress only checks the run exists)."""
    from churns_gql.models import JobStatus, Run

    async with ctx.db() as session:
        run = Run(status=JobStatus.COMPLETED, prompt="bench events")
        session.add(run)
        await session.commit()
        return run.id


class Publisher:
    """Publishes stage events for one job exactly as the worker does, and times each commit."""

    def __init__(self, ctx: Ctx, run_id: uuid.UUID) -> None:
        """A publisher for a fresh job id of run `run_id`."""
        self.ctx = ctx
        self.run_id = run_id
        self.job_id = uuid.uuid4()

    async def publish(self) -> tuple[int, int]:
        """One event through churns_gql.events.publish; returns (seq, perf_counter_ns just before COMMIT)."""
        from churns_gql.events import publish
        from churns_gql.models import StageStatus

        async with self.ctx.db() as session:
            event = await publish(
                session,
                job_id=self.job_id,
                run_id=self.run_id,
                stage="bench",
                status=StageStatus.RUNNING,
                progress=0.5,
                message="bench event",
            )
            started = time.perf_counter_ns()
            await session.commit()
        return event.seq, started


async def raw_listen_floor(ctx: Ctx, run_id: uuid.UUID, events: int) -> list[int]:
    """Commit → notification latencies (ns) seen by a raw asyncpg LISTEN connection in this process."""
    from churns_gql.events import CHANNEL

    publisher = Publisher(ctx, run_id)
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[int]] = {}

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """Stamp the arrival first, then resolve the waiter for this job's seq."""
        now = time.perf_counter_ns()
        body = json.loads(payload)
        future = waiting.get(body.get("seq")) if body.get("job") == str(publisher.job_id) else None
        if future is not None and not future.done():
            future.set_result(now)

    conn = await asyncio.wait_for(asyncpg.connect(ctx.target.dsn), timeout=10)
    latencies = []
    try:
        await conn.add_listener(CHANNEL, on_notify)
        for i in range(events + _FLOOR_WARMUP):
            # The seq is known only after publish(); the next one is last + 1, so wait on that.
            expected = i + 1
            waiting[expected] = loop.create_future()
            seq, started = await publisher.publish()
            assert seq == expected, (seq, expected)
            try:
                arrived = await asyncio.wait_for(asyncio.shield(waiting[seq]), timeout=5)
            finally:
                del waiting[seq]
            if i >= _FLOOR_WARMUP:
                latencies.append(arrived - started)
            await asyncio.sleep(0.002)
    finally:
        await conn.close()
    return latencies


async def open_subscriptions(
    ctx: Ctx,
    run_gid: str,
    connections: int,
    per_connection: int,
    counter: Counter,
    *,
    batch: int = 10,
    port: int | None = None,
) -> list[GqlWs]:
    """`connections` websockets with `per_connection` runProgress subscriptions each, opened `batch` at a time."""
    opened: list[GqlWs] = []

    async def one(index: int) -> GqlWs:
        """One connection with its subscriptions sent."""
        ws = await connect(HOST, port or ctx.api_port, counter=counter, timeout=30)
        for s in range(per_connection):
            ws.subscribe(f"{index}-{s}", RUN_PROGRESS, {"id": run_gid})
        return ws

    try:
        for first in range(0, connections, batch):
            opened += await asyncio.gather(*(one(i) for i in range(first, min(connections, first + batch))))
    except BaseException:
        close_all(opened)
        raise
    return opened


def close_all(connections: list[GqlWs]) -> None:
    """Close every websocket."""
    for ws in connections:
        ws.close()


async def until_all_receive(
    publisher: Publisher, counter: Counter, subscribers: int, *, tries: int = 20, wait_s: float = 3.0
) -> bool:
    """Publish warm-up events until one reaches every subscriber: proof that all subscriptions are registered."""
    for _ in range(tries):
        before = counter.count
        await publisher.publish()
        if await counter.wait(before + subscribers, wait_s):
            return True
    return False


def deliveries(connections: list[GqlWs]) -> dict[str, list[tuple[int, int]]]:
    """Per subscription id, the (seq, arrival ns) of every `next` received, in arrival order."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ws in connections:
        for at, raw in ws.messages:
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            event = ((message.get("payload") or {}).get("data") or {}).get("runProgress") or {}
            if "seq" in event:
                out[message["id"]].append((int(event["seq"]), at))
    return out


def protocol_errors(connections: list[GqlWs]) -> list[str]:
    """Messages that are neither `next` nor the ack/pings: subscription errors, early completes."""
    found = []
    for ws in connections:
        for _at, raw in ws.messages:
            kind = json.loads(raw).get("type")
            if kind not in ("next", "connection_ack", "ping", "pong"):
                found.append(raw.decode(errors="replace")[:300])
    return found


async def fan_out_latencies(ctx: Ctx, port: int, run_id: uuid.UUID, pid: int) -> dict[str, Any]:
    """Open the P1 subscriptions on `port`, publish the events one by one; latencies, checks and details."""
    from churns_gql.graphql.ids import encode_id

    sizes = ctx.sizes
    n_subs = sizes.p1_connections * sizes.p1_subs_per_connection
    counter = Counter()
    connections = await open_subscriptions(
        ctx, encode_id("Run", run_id), sizes.p1_connections, sizes.p1_subs_per_connection, counter, port=port
    )
    try:
        publisher = Publisher(ctx, run_id)
        registered = await until_all_receive(publisher, counter, n_subs)
        await counter.quiet()
        started: dict[int, int] = {}
        all_arrived = registered
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        bench_cpu_before = time.process_time()
        for _ in range(sizes.p1_events if registered else 0):
            before = counter.count
            seq, at = await publisher.publish()
            started[seq] = at
            if not await counter.wait(before + n_subs, timeout=30):
                all_arrived = False
                break
            await asyncio.sleep(0.02)
        cpu_used, wall = cpu_seconds(pid) - cpu_before, time.monotonic() - wall_before
        bench_cpu = time.process_time() - bench_cpu_before
        await counter.quiet()
    finally:
        close_all(connections)
    got = deliveries(connections)
    measured = sorted(started)
    latencies, spreads, firsts = [], [], []
    per_event: dict[int, list[int]] = defaultdict(list)
    wrong: dict[str, list[int]] = {}
    for op_id, items in got.items():
        seqs = [s for s, _ in items if s in started]
        if seqs != measured:
            wrong[op_id] = seqs
        for seq, at in items:
            if seq in started:
                latencies.append(at - started[seq])
                per_event[seq].append(at)
    lasts = []
    for seq, arrivals in sorted(per_event.items()):
        firsts.append(min(arrivals) - started[seq])
        lasts.append(max(arrivals) - started[seq])
        spreads.append(max(arrivals) - min(arrivals))
    example = next(iter(wrong.items()), None)
    errors = protocol_errors(connections)
    checks = {
        "all subscriptions registered": registered,
        "every subscriber received every event": all_arrived
        and len(got) == n_subs
        and len(latencies) == n_subs * len(measured)
        and len(measured) == sizes.p1_events,
        "each subscriber saw the events once, in order": not wrong and len(got) == n_subs,
        "no subscription errors": not errors,
    }
    details = {
        "events": len(measured),
        "deliveries": len(latencies),
        "p50_ms": ms(pct(latencies, 50)),
        "p90_ms": ms(pct(latencies, 90)),
        "p99_ms": ms(pct(latencies, 99)),
        "max_ms": ms(pct(latencies, 100)),
        "first_subscriber_p50_ms": ms(pct(firsts, 50)),
        "first_to_last_subscriber_p50_ms": ms(pct(spreads, 50)),
        "last_subscriber_p50_ms": ms(pct(lasts, 50)),
        "last_subscriber_max_ms": ms(pct(lasts, 100)),
        "last_subscriber_ms_by_event": [round(v / 1e6, 1) for v in lasts],
        "bench_cpu_share_during_events": round(bench_cpu / wall, 2) if wall else None,
        "subscribers_with_wrong_sequence": len(wrong),
        "example_wrong_sequence": {"subscription": example[0], "seqs": example[1][:20], "expected_first": measured[:20]}
        if example
        else None,
        "server_cpu_ms_per_event": round(cpu_used * 1000 / max(1, len(measured)), 2),
        "server_cpu_share_during_events": round(cpu_used / wall, 2) if wall else None,
        "errors": errors[:3],
    }
    return {"checks": checks, "details": details}


async def p1_notify_latency(ctx: Ctx) -> list[Row]:
    """P1: pg_notify commit → `next` at each of N subscribers, against a bare fan-out peer and the raw-LISTEN floor."""
    sizes = ctx.sizes
    n_subs = sizes.p1_connections * sizes.p1_subs_per_connection
    what = f"{n_subs:,} runProgress subscriptions ({sizes.p1_connections} ws × {sizes.p1_subs_per_connection})"
    row = Row("P1", f"commit → `next`, {what}", target="p99 ≤ 1.5× the bare fan-out peer")
    run_id = await make_run(ctx)
    floor = await raw_listen_floor(ctx, run_id, sizes.p1_floor_events)
    api = await fan_out_latencies(ctx, ctx.api_port, run_id, ctx.api_pid)
    peer_child, peer_port = await asyncio.to_thread(ctx.stack.start_fanout_peer)
    try:
        peer = await fan_out_latencies(ctx, peer_port, run_id, peer_child.pid)
    finally:
        await asyncio.to_thread(peer_child.stop)
    p99, p50 = api["details"]["p99_ms"], api["details"]["p50_ms"]
    q99, q50 = peer["details"]["p99_ms"], peer["details"]["p50_ms"]
    f50, f99 = ms(pct(floor, 50)), ms(pct(floor, 99))
    row.checks = {**api["checks"], **{f"peer: {name}": ok for name, ok in peer["checks"].items()}}
    row.figure, row.figure_text = p99, f"p99 {p99:.2f} ms (p50 {p50:.2f})"
    row.reference, row.reference_text = q99, f"bare fan-out peer p99 {q99:.2f} ms (p50 {q50:.2f})"
    row.ratio = round(p99 / q99, 2) if q99 else None
    row.met = row.ratio is not None and row.ratio <= 1.5
    row.details = {
        "subscriptions": n_subs,
        **api["details"],
        "peer": peer["details"],
        "floor_events": len(floor),
        "floor_p50_ms": f50,
        "floor_p99_ms": f99,
    }
    raw = Row("P1+", f"commit → `next`, {what}, against a raw LISTEN", target="info (ratio to raw LISTEN)")
    raw.figure, raw.figure_text = p99, row.figure_text
    raw.reference, raw.reference_text = f99, f"raw LISTEN p99 {f99:.2f} ms (p50 {f50:.2f})"
    raw.ratio = round(p99 / f99, 1) if f99 else None
    raw.checks = {"the raw LISTEN saw every event": len(floor) == sizes.p1_floor_events}
    return [row, raw]


async def _wait_idle(pid: int, *, quiet_cpu_s: float = 0.02, window_s: float = 0.5, timeout_s: float = 120.0) -> float:
    """Wait until the process uses under quiet_cpu_s of CPU in a window; returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = cpu_seconds(pid)
        await asyncio.sleep(window_s)
        if cpu_seconds(pid) - before < quiet_cpu_s:
            break
    return time.monotonic() - started


async def p2_idle_memory(ctx: Ctx) -> Row:
    """P2: server RSS growth per idle subscription, with every subscription proven live afterwards."""
    from churns_gql.graphql.ids import encode_id

    sizes = ctx.sizes
    n_subs = sizes.p2_connections * sizes.p2_subs_per_connection
    row = Row(
        "P2",
        f"idle subscriptions held: {n_subs:,} ({sizes.p2_connections} ws × {sizes.p2_subs_per_connection}), "
        "server RSS per subscription",
        target="≤ 20 KiB each (issue 17; issue 7 asked ≤ 40)",
    )
    run_id = await make_run(ctx)
    run_gid = encode_id("Run", run_id)
    publisher = Publisher(ctx, run_id)
    # Warm every code path once so that first-use allocations are not counted as per-subscription cost.
    warm_counter = Counter()
    warm = await open_subscriptions(ctx, run_gid, 1, min(100, sizes.p2_subs_per_connection), warm_counter)
    try:
        warmed = await until_all_receive(publisher, warm_counter, min(100, sizes.p2_subs_per_connection))
    finally:
        close_all(warm)
    await asyncio.sleep(0.5)
    await _wait_idle(ctx.api_pid)
    rss_before = rss_kib(ctx.api_pid)
    counter = Counter()
    opened_at = time.monotonic()
    connections = await open_subscriptions(ctx, run_gid, sizes.p2_connections, sizes.p2_subs_per_connection, counter)
    try:
        settle_s = await _wait_idle(ctx.api_pid)
        subscribe_s = time.monotonic() - opened_at
        rss_held = rss_kib(ctx.api_pid)
        before = counter.count
        proof_started = time.monotonic()
        seq, _ = await publisher.publish()
        all_live = await counter.wait(before + n_subs, timeout=max(30.0, n_subs / 100))
        proof_s = time.monotonic() - proof_started
        rss_after_event = rss_kib(ctx.api_pid)
    finally:
        close_all(connections)
    await asyncio.sleep(1.0)
    await _wait_idle(ctx.api_pid, timeout_s=30)
    rss_closed = rss_kib(ctx.api_pid)
    got = deliveries(connections)
    errors = protocol_errors(connections)
    per_sub = (rss_held - rss_before) / n_subs
    row.checks = {
        "warm-up subscriptions registered": warmed,
        "every held subscription received the proof event": all_live
        and len(got) == n_subs
        and all(any(s == seq for s, _ in items) for items in got.values()),
        "no subscription errors": not errors,
    }
    row.figure, row.figure_text = round(per_sub, 1), f"{per_sub:.1f} KiB / subscription"
    row.met = per_sub <= 20.0
    row.details = {
        "subscriptions": n_subs,
        "rss_before_kib": rss_before,
        "rss_held_kib": rss_held,
        "rss_after_one_event_kib": rss_after_event,
        "rss_after_close_kib": rss_closed,
        "kib_per_subscription_after_event": round((rss_after_event - rss_before) / n_subs, 1),
        "subscribe_all_s": round(subscribe_s, 2),
        "settle_s": round(settle_s, 2),
        "one_event_to_all_s": round(proof_s, 2),
        "errors": errors[:3],
    }
    return row
