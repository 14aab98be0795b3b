"""A closed-loop HTTP/1.1 load generator in its own process: keep-alive connections, a fixed duration.

It speaks just enough HTTP to send one prepared POST again and again and read the answer, so that the
generator costs far less CPU per request than the servers it measures.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


@dataclass
class LoadSpec:
    """What to send, how hard and for how long, and what counts as a good answer."""

    host: str
    port: int
    path: str
    body: bytes
    connections: int
    duration_s: float
    warmup_s: float
    headers: dict[str, str] = field(default_factory=dict)
    # A good answer is HTTP 200, JSON without "errors", a non-empty value at ok_path and, if given,
    # an empty list at empty_path (e.g. userErrors).
    ok_path: tuple[str, ...] = ()
    empty_path: tuple[str, ...] | None = None


@dataclass
class LoadResult:
    """Counts and latencies of the measured window (and totals including warm-up and stragglers)."""

    duration_s: float
    ok: int
    bad: int
    rps: float
    p50_ms: float
    p99_ms: float
    total_ok: int
    total_bad: int
    first_bad: str | None = None


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at a key path in nested dicts, or None."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _good(spec: LoadSpec, status: int, body: bytes) -> bool:
    """Whether one answer counts as a success under the spec."""
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if not isinstance(doc, dict) or doc.get("errors"):
        return False
    if spec.ok_path and _dig(doc, spec.ok_path) in (None, [], {}, ""):
        return False
    return spec.empty_path is None or _dig(doc, spec.empty_path) == []


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The response body, by Content-Length or chunked transfer encoding."""
    match = _CONTENT_LENGTH.search(head)
    if match:
        return await reader.readexactly(int(match.group(1)))
    if _CHUNKED.search(head):
        parts = []
        for _ in range(1_000_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        return b"".join(parts)
    return b""


async def _connection(
    spec: LoadSpec,
    request: bytes,
    start: float,
    end: float,
    records: list[tuple[float, float, bool]],
    bad_samples: list[str],
) -> None:
    """One keep-alive connection sending the request back to back until `end`."""
    reader = writer = None
    try:
        while time.perf_counter() < end:
            if writer is None:
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
            sent = time.perf_counter()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await _read_body(reader, head)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                records.append((time.perf_counter(), 0.0, False))
                if len(bad_samples) < 3:
                    bad_samples.append(f"connection lost: {exc.__class__.__name__}")
                writer.close()
                reader = writer = None
                continue
            done = time.perf_counter()
            status = int(head[9:12])
            good = _good(spec, status, body)
            if not good and len(bad_samples) < 3:
                bad_samples.append(f"HTTP {status}: {body[:300]!r}")
            records.append((done, done - sent, good))
            if _CLOSE.search(head):
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _generate(spec: LoadSpec) -> LoadResult:
    """All connections at once; counts only answers completed inside the measured window."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in spec.headers.items())
    request = (
        f"POST {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(spec.body)}\r\n{extra}\r\n"
    ).encode() + spec.body
    start = time.perf_counter() + spec.warmup_s
    end = start + spec.duration_s
    records: list[tuple[float, float, bool]] = []
    bad_samples: list[str] = []
    async with asyncio.timeout(spec.warmup_s + spec.duration_s + 30):
        await asyncio.gather(
            *(_connection(spec, request, start, end, records, bad_samples) for _ in range(spec.connections))
        )
    window = [r for r in records if start <= r[0] < end]
    latencies = sorted(r[1] for r in window if r[2])
    ok = sum(1 for r in window if r[2])

    def pct(p: float) -> float:
        """A percentile of the good latencies, in ms."""
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3) if latencies else 0.0

    return LoadResult(
        duration_s=spec.duration_s,
        ok=ok,
        bad=len(window) - ok,
        rps=round(ok / spec.duration_s, 1),
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        total_ok=sum(1 for r in records if r[2]),
        total_bad=sum(1 for r in records if not r[2]),
        first_bad=bad_samples[0] if bad_samples else None,
    )


def _child(spec: LoadSpec, out: Any) -> None:
    """Entry point of the load process: run the load on uvloop when available, report through `out`."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            out.put(("ok", asdict(runner.run(_generate(spec)))))
    except BaseException as exc:
        out.put(("error", f"{exc.__class__.__name__}: {exc}"))


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load in a separate process and return its result; the process never outlives the call."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(spec, out), name="bench-load", daemon=True)
    proc.start()
    try:
        try:
            kind, value = out.get(timeout=spec.warmup_s + spec.duration_s + 60)
        except queue.Empty:
            raise TimeoutError("the load generator did not report in time") from None
        if kind != "ok":
            raise RuntimeError(f"load generator failed: {value}")
        return LoadResult(**value)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
