"""The worker's Prometheus metrics: job durations and provider-call durations, served on their own port."""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from prometheus_client import Histogram, start_http_server

log = logging.getLogger("churns_gql.worker_metrics")

# Offline jobs take well under a second; OpenAI image calls take tens of seconds; generations minutes.
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
JOB_SECONDS = Histogram(
    "churns_job_duration_seconds",
    "Time a worker spent on one job attempt, by type and outcome.",
    ["type", "status"],
    buckets=JOB_BUCKETS,
)
PROVIDER_SECONDS = Histogram(
    "churns_provider_call_duration_seconds",
    "Duration of provider calls, by provider, call and outcome.",
    ["provider", "call", "outcome"],
    buckets=JOB_BUCKETS,
)


class TimedProvider:
    """Wraps a provider: each of its async methods is timed into PROVIDER_SECONDS; everything else passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        """The inner attribute; coroutine methods come back timed."""
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await attribute(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                provider = getattr(self._inner, "name", type(self._inner).__name__)
                PROVIDER_SECONDS.labels(str(provider), name, outcome).observe(time.perf_counter() - started)

        return timed


def observe_job(job_type: str, status: str, seconds: float) -> None:
    """Record one job attempt."""
    JOB_SECONDS.labels(job_type, status).observe(seconds)


def serve_metrics(port: int, host: str) -> None:
    """Expose this process's metrics on host:port (port 0 = off); a port in use is logged, not fatal."""
    if port <= 0:
        return
    try:
        start_http_server(port, addr=host)
        log.info("worker metrics on http://%s:%d/metrics", host, port)
    except OSError as exc:
        log.warning("worker metrics not served on port %d: %s", port, exc)
