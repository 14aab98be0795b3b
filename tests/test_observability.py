"""/metrics (Prometheus), the worker's job and provider-call histograms, OpenTelemetry traces, JSON logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from churns_gql import tracing
from churns_gql.app import create_app
from churns_gql.logs import configure_logging
from churns_gql.worker_metrics import TimedProvider
from tests.conftest import WSClient, run_worker
from tests.test_generation_engine import create
from tests.test_security import _token


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _scrape(client, **headers) -> dict:
    response = await client.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_metrics_count_requests_errors_jobs_queue_and_cost(client):
    before = await _scrape(client)
    key = ("churns_graphql_requests_total", (("operation", "Mine"), ("status", "200")))
    await client.http.post("/graphql", json={"query": "query Mine { __typename }", "operationName": "Mine"})
    await client.http.post("/graphql", json={"query": "{"})
    run = await create(client, numImages=1)
    assert run["userErrors"] == []
    after = await _scrape(client)
    assert after[key] == before.get(key, 0) + 1
    parse_key = ("churns_graphql_errors_total", (("code", "GRAPHQL_PARSE_FAILED"),))
    assert after[parse_key] == before.get(parse_key, 0) + 1
    assert after[("churns_jobs", (("status", "QUEUED"), ("type", "generation")))] == 1
    assert after[("churns_queue_depth", ())] == 1  # no worker ran: the generation waits in Redis
    assert after[("churns_jobs_cost_usd", (("type", "generation"),))] == 0


async def test_operation_labels_are_bounded(client):
    await client.http.post("/graphql", json={"query": "query A { __typename }", "operationName": "x" * 500})
    samples = await _scrape(client)
    assert not any(dict(labels).get("operation", "").startswith("xxx") for _name, labels in samples)


async def test_metrics_need_a_token_once_auth_is_on(client, services):
    await client.execute("{ __typename }")
    token = await _token(services)
    assert (await client.http.get("/metrics")).status_code == 401
    await _scrape(client, Authorization=f"Bearer {token}")


async def test_a_metrics_token_is_required_when_set(services):
    services.settings = services.settings.with_changes(metrics_token="scrape-secret")
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert ok.status_code == 200 and "churns_graphql_requests_total" in ok.text


async def test_open_websockets_and_subscriptions_are_gauges(live_server, client):
    run = (await create(client, numImages=1))["run"]
    async with httpx.AsyncClient(base_url=live_server) as http:
        async with WSClient(live_server) as ws:
            await ws.subscribe("1", "subscription($id: ID!) { runProgress(id: $id) { seq } }", {"id": run["id"]})
            await ws.receive()  # the recorded QUEUED event: the subscription is running
            during = _samples((await http.get("/metrics")).text)
        after = _samples((await http.get("/metrics")).text)
    assert during[("churns_websockets_open", ())] == 1 and during[("churns_subscriptions_open", ())] == 1
    assert after[("churns_websockets_open", ())] == 0


async def test_worker_observes_job_durations(client, worker_services):
    key = ("churns_job_duration_seconds_count", (("status", "completed"), ("type", "generation")))
    before = _samples(_registry_text()).get(key, 0)
    await create(client, numImages=1)
    assert await run_worker(worker_services) == 1
    assert _samples(_registry_text())[key] == before + 1


async def test_provider_calls_are_timed_by_provider_call_and_outcome():
    class Fake:
        name = "fake"

        async def edit(self, request):
            return request * 2

        async def generate(self, request):
            raise RuntimeError("down")

    timed = TimedProvider(Fake())
    ok_key = (
        "churns_provider_call_duration_seconds_count",
        (("call", "edit"), ("outcome", "ok"), ("provider", "fake")),
    )
    err_key = (
        "churns_provider_call_duration_seconds_count",
        (("call", "generate"), ("outcome", "error"), ("provider", "fake")),
    )
    before = _samples(_registry_text())
    assert await timed.edit(21) == 42 and timed.name == "fake"
    with pytest.raises(RuntimeError):
        await timed.generate(1)
    after = _samples(_registry_text())
    assert after[ok_key] == before.get(ok_key, 0) + 1 and after[err_key] == before.get(err_key, 0) + 1


def _registry_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


def test_tracing_is_off_without_otel_variables(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.tracing_requested()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.tracing_requested()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing.tracing_requested()


async def test_traces_cover_http_graphql_and_asyncpg(services, monkeypatch):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = tracing.tracer_provider(exporter)
    if exporter not in [p.span_exporter for p in provider._active_span_processor._span_processors]:
        pytest.skip("another test made this process's tracer provider first")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")  # asks for tracing; the provider above is already made
    app = create_app(services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            response = await http.post("/graphql", json={"query": "query Count { runs { totalCount } }"})
        assert response.status_code == 200 and not response.json().get("errors")
    finally:
        tracing.uninstrument_asyncpg()
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert "POST /graphql" in names, names
    assert {"GraphQL Query: Count", "GraphQL Parsing", "GraphQL Validation", "GraphQL Resolving: runs"} <= set(names)
    assert any(s.attributes.get("db.system") in ("postgresql", "postgres") for s in spans), names
    trace_ids = {s.context.trace_id for s in spans}
    assert len(trace_ids) == 1, "HTTP, GraphQL and database spans belong to one trace"


async def test_json_logs_carry_the_request_id(client, monkeypatch, capsys):
    from churns_gql.services import runs as run_service

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(run_service, "list_runs", broken)
    monkeypatch.setattr(run_service, "count_runs", broken)  # `totalCount` alone is counted without a page
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("json")
    try:
        response = await client.http.post(
            "/graphql", json={"query": "{ runs { totalCount } }"}, headers={"X-Request-ID": "req-42"}
        )
        fresh = await client.http.post("/graphql", json={"query": "{ __typename }"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert response.headers["x-request-id"] == "req-42"
    assert len(fresh.headers["x-request-id"]) == 32  # none given: one is made
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    masked = [line for line in lines if line["message"].startswith("unexpected error")]
    assert masked and masked[0]["request_id"] == "req-42" and masked[0]["level"] == "ERROR"
    assert "RuntimeError: boom" in masked[0]["exc"]


async def test_a_malformed_operation_name_is_still_counted_and_refused(client):
    response = await client.http.post("/graphql", json={"query": "{ __typename }", "operationName": {"obj": 1}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
