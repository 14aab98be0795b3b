"""No request of one tenant stalls another by more than a second (issue 11, item 5): the heaviest query the
cost limit accepts runs beside another token's small queries.

Wall-clock latency on a shared, overloaded machine mostly measures the machine, so the bound is checked
on CPU time: the event loop thread's CPU spent while each of the other tenant's answers was awaited
(what its latency is on an idle machine, where that one thread is the bottleneck). Wall-clock latencies
and the loop's longest single step are reported beside it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from churns_gql.graphql.cost import selection_cost
from churns_gql.models import JobStatus, Run
from churns_gql.services import tokens
from churns_gql.services.lifecycle import utcnow
from churns_gql.storage import METADATA_FILE

RUNS = 100
# Metadata of about this size per run: the most an import stores (services/runs.py MAX_METADATA_BYTES).
METADATA_BYTES = 1_000_000
STALL_LIMIT_S = 1.0


class LoopMonitor:
    """The longest stretch of event-loop CPU time between two ticks of a 5 ms timer."""

    def __init__(self) -> None:
        self.worst_cpu_s = 0.0
        self.worst_wall_s = 0.0

    async def run(self, until: asyncio.Event) -> None:
        """Tick until `until` is set."""
        while not until.is_set():
            cpu, wall = time.thread_time(), time.monotonic()
            await asyncio.sleep(0.005)
            self.worst_cpu_s = max(self.worst_cpu_s, time.thread_time() - cpu)
            self.worst_wall_s = max(self.worst_wall_s, time.monotonic() - wall)


async def _token(services, name: str) -> tuple[uuid.UUID, str]:
    async with services.db() as session:
        row, token = await tokens.create_token(session, name)
        await session.commit()
    services.gate.forget()
    return row.id, token


async def _runs_with_metadata(services, owner: uuid.UUID) -> None:
    """RUNS runs of `owner`, each with a metadata file of about METADATA_BYTES."""
    blob = {"notes": ["x" * 1000 for _ in range(METADATA_BYTES // 1000)]}
    data = json.dumps(blob).encode()
    now = utcnow()
    async with services.db() as session:
        for _ in range(RUNS):
            run_id = uuid.uuid4()
            await services.storage.create_run_dir(run_id, {METADATA_FILE: data})
            session.add(
                Run(id=run_id, status=JobStatus.COMPLETED, prompt="p", inputs={}, created_at=now, owner_token_id=owner)
            )
        await session.commit()


def _heaviest_accepted_query(limit: int) -> str:
    """As many aliases of a full page of metadata as the cost limit lets through."""
    from graphql import parse

    one = "runs(first: 100) { edges { node { metadata } } }"
    cost = selection_cost(parse("{ " + one + " }").definitions[0].selection_set, {})
    aliases = max(1, limit // cost)
    return "{ " + " ".join(f"a{i}: {one}" for i in range(aliases)) + " }"


def _heavy_requests(url: str, token: str, query: str, count: int) -> list[httpx.Response]:
    """The heavy tenant's requests, sent at once from threads: reading its 16 MB of answers is the client's CPU,
    which on the server's own event loop thread would be counted as the server's stall."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=120) as http:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda _: http.post("/graphql", json={"query": query}), range(count)))


async def _worst_latency(url: str, token: str, busy: asyncio.Event) -> tuple[float, float]:
    """Another tenant's small query, every 50 ms while `busy`; its slowest answer in loop CPU and wall seconds."""
    worst_cpu = worst_wall = 0.0
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        while not busy.is_set():
            await asyncio.sleep(0.01)
        while busy.is_set():
            cpu, wall = time.thread_time(), time.monotonic()
            response = await http.post("/graphql", json={"query": "{ runs(first: 1) { totalCount } }"})
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            worst_cpu = max(worst_cpu, time.thread_time() - cpu)
            worst_wall = max(worst_wall, time.monotonic() - wall)
            await asyncio.sleep(0.05)
    return worst_cpu, worst_wall


async def test_the_heaviest_accepted_query_does_not_stall_another_tenant(live_server, services):
    heavy_id, heavy = await _token(services, "heavy")
    _other_id, other = await _token(services, "other")
    await _runs_with_metadata(services, heavy_id)
    query = _heaviest_accepted_query(services.settings.max_query_cost)
    busy, done = asyncio.Event(), asyncio.Event()
    probe = asyncio.create_task(_worst_latency(live_server, other, busy))
    monitor = LoopMonitor()
    ticking = asyncio.create_task(monitor.run(done))
    busy.set()
    started = time.monotonic()
    answers = await asyncio.to_thread(_heavy_requests, live_server, heavy, query, 2)
    took = time.monotonic() - started
    busy.clear()
    done.set()
    (worst_cpu, worst_wall), _ = await asyncio.gather(probe, ticking)
    sizes = [len(a.content) for a in answers]
    print(
        f"heavy: 2 x {took:.2f} s for {sizes} bytes; other tenant's slowest answer {worst_cpu:.3f} s loop CPU "
        f"({worst_wall:.3f} s wall); loop's longest step {monitor.worst_cpu_s:.3f} s CPU"
    )
    assert all(a.status_code == 200 for a in answers)
    # The budget answered what fits and refused the rest with a code.
    body = answers[0].json()
    assert {e["extensions"]["code"] for e in body["errors"]} == {"QUERY_TOO_COMPLEX"}
    answered = [e for alias in body["data"].values() for e in alias["edges"] if e["node"]["metadata"]]
    assert 1 <= len(answered) <= 8, len(answered)  # 8 MB of ~1 MB files; which ones depends on read order
    assert worst_cpu < STALL_LIMIT_S and monitor.worst_cpu_s < STALL_LIMIT_S, (worst_cpu, took, sizes)


async def test_an_import_with_metadata_over_the_bound_is_too_large_and_writes_nothing(client, services):
    from churns_gql.services.runs import MAX_METADATA_BYTES
    from tests.conftest import IMPORT_RUN, png_bytes

    # Under the multipart field limit as sent, over the bound as stored (indented): the import refuses it.
    wide = {"rows": [[0] * 1000 for _ in range(MAX_METADATA_BYTES // 3100)]}
    # Far over it: the multipart parser refuses the operations field before GraphQL sees it.
    huge = {"blob": "x" * MAX_METADATA_BYTES}
    for metadata, status in ((wide, 200), (huge, 413)):
        response = await client.upload(
            IMPORT_RUN,
            {"input": {"images": [None], "metadata": metadata}},
            {"input.images.0": ("a.png", png_bytes(), "image/png")},
        )
        assert response.status_code == status, response.text
        body = response.json()
        codes = [e["code"] for e in body["data"]["importRun"]["userErrors"]] if status == 200 else None
        assert codes == ["TOO_LARGE"] or body["errors"][0]["extensions"]["code"] == "TOO_LARGE", body
    runs_dir = services.storage.runs_dir
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
