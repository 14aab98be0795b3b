"""The API's Prometheus metrics: GraphQL requests and errors, open sockets, jobs, queue depth and cost."""

from __future__ import annotations

import asyncio
import logging
import re
from functools import lru_cache
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, generate_latest

log = logging.getLogger("churns_gql.metrics")

REQUESTS = Counter(
    "churns_graphql_requests", "GraphQL HTTP requests by operation name and status code.", ["operation", "status"]
)
ERRORS = Counter("churns_graphql_errors", "GraphQL errors sent to clients, by extensions.code.", ["code"])
WEBSOCKETS_OPEN = Gauge("churns_websockets_open", "GraphQL websockets open on this API process.")
SUBSCRIPTIONS_OPEN = Gauge("churns_subscriptions_open", "Operations running on this process's websockets.")
JOBS = Gauge(
    "churns_jobs", "Jobs by type (generation, prompt, text, subject) and status, from the database.", ["type", "status"]
)
COST = Gauge("churns_jobs_cost_usd", "Real cost recorded for jobs so far, by type, in USD.", ["type"])
QUEUE_DEPTH = Gauge("churns_queue_depth", "Jobs waiting in the queue for a worker (-1: the queue is unreachable).")

# Operation names come from clients: only well-formed names are labels, and at most this many distinct ones.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_NAMES = 200
_seen_names: set[str] = set()


def operation_label(name: object) -> str:
    """A bounded label for an operation name: the name, 'anonymous', or 'other' past the cap (or not a name)."""
    if name is None or name == "":
        return "anonymous"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "other"
    if name not in _seen_names and len(_seen_names) >= MAX_OPERATION_NAMES:
        return "other"
    _seen_names.add(name)
    return name


def count_request(operation: str | None, status: int) -> None:
    """Count one GraphQL HTTP request."""
    _request_series(operation_label(operation), status).inc()


@lru_cache(maxsize=4096)
def _request_series(label: str, status: int) -> Any:
    """The counter of one (operation label, status): `labels()` checks and locks on every call (≈ 7 µs), and
    its answer never changes, since REQUESTS is never cleared. Labels are bounded (MAX_OPERATION_NAMES)."""
    return REQUESTS.labels(label, str(status))


def count_errors(errors: list[dict[str, Any]]) -> None:
    """Count formatted GraphQL errors by their code."""
    for error in errors:
        ERRORS.labels(str((error.get("extensions") or {}).get("code", "NONE"))).inc()


async def render(services: Any) -> bytes:
    """The exposition text, after refreshing what is read at scrape time (sockets, jobs, cost, queue)."""
    from churns_gql.services import stats

    guard = services.socket_guard
    if guard is not None:
        WEBSOCKETS_OPEN.set(guard.open_sockets())
        SUBSCRIPTIONS_OPEN.set(guard.open_operations())
    try:
        async with services.db() as session:
            jobs = await asyncio.wait_for(stats.jobs_by_type_and_status(session), timeout=5)
            costs = await asyncio.wait_for(stats.cost_by_type(session), timeout=5)
        JOBS.clear()
        for kind, status, count in jobs:
            JOBS.labels(kind, status).set(count)
        for kind, usd in costs.items():
            COST.labels(kind).set(usd)
    except Exception:
        log.warning("metrics: could not read job figures", exc_info=True)
    try:
        QUEUE_DEPTH.set(await services.queue.depth())
    except Exception:
        QUEUE_DEPTH.set(-1)
    return generate_latest(REGISTRY)
