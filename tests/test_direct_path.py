"""The direct path to graphql-core answers every HTTP request exactly as Strawberry's own path does."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.types.graphql import OperationType

from churns_gql.app import create_app
from churns_gql.graphql.direct_path import DirectPath
from churns_gql.graphql.persisted import document_hash
from churns_gql.graphql.schema import build_schema

COUNT = "{ runs(first: 1) { totalCount } }"
TWO = "query A { __typename } query B { runs(first: 1) { totalCount } }"
JSON_ACCEPT = {"accept": "application/json"}
SPEC_ACCEPT = {"accept": "application/graphql-response+json"}
# (method, body or query parameters, headers): the requests both paths must answer alike.
REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("POST", {"query": "{ __typename }"}, JSON_ACCEPT),
    ("POST", {"query": COUNT}, JSON_ACCEPT),
    ("POST", {"query": COUNT, "extensions": {"anything": 1}}, SPEC_ACCEPT),
    ("POST", {"query": TWO, "operationName": "B"}, JSON_ACCEPT),
    ("POST", {"query": TWO, "operationName": "A"}, SPEC_ACCEPT),
    ("POST", {"query": TWO}, JSON_ACCEPT),
    ("POST", {"query": TWO}, SPEC_ACCEPT),
    ("POST", {"query": TWO, "operationName": "C"}, SPEC_ACCEPT),
    ("POST", {"query": "{ __typename }", "operationName": ""}, JSON_ACCEPT),
    ("POST", {"query": "fragment F on Query { __typename }"}, SPEC_ACCEPT),
    ("POST", {"query": "{ runs("}, JSON_ACCEPT),
    ("POST", {"query": "{ runs("}, SPEC_ACCEPT),
    ("POST", {"query": "{ nope }"}, SPEC_ACCEPT),
    ("POST", {"query": "{ " + "__typename " * 120 + "}"}, JSON_ACCEPT),  # over the token limit
    ("POST", {"query": "#" * 2100 + "\n{ __typename }"}, JSON_ACCEPT),  # over the size limit
    ("POST", {"query": "{ a: __typename b: __typename c: __typename }"}, JSON_ACCEPT),  # over the alias limit
    ("POST", {"query": "{ runs { edges { node { images { children { children { id } } } } } } }"}, SPEC_ACCEPT),
    ("POST", {"query": "query($n: Int) { runs(first: $n) { totalCount } }", "variables": {"n": "x"}}, SPEC_ACCEPT),
    ("POST", {"query": "query($n: Int!) { runs(first: $n) { totalCount } }"}, JSON_ACCEPT),
    ("POST", {"query": "{ runs(first: -1) { totalCount } }"}, SPEC_ACCEPT),
    ("POST", {"query": '{ node(id: "bm90IGFuIGlk") { id } }'}, JSON_ACCEPT),
    ("POST", {"query": 'mutation { cancelRun(id: "x") { userErrors { code message } } }'}, JSON_ACCEPT),
    ("POST", {"query": 'subscription { runProgress(runId: "x") { stage } }'}, JSON_ACCEPT),
    ("POST", {"query": ""}, JSON_ACCEPT),
    ("POST", {}, JSON_ACCEPT),
    ("GET", {"query": COUNT}, SPEC_ACCEPT),
    ("GET", {"query": TWO, "operationName": "B"}, JSON_ACCEPT),
    ("GET", {"query": 'mutation { cancelRun(id: "x") { userErrors { code } } }'}, JSON_ACCEPT),
    ("GET", {"query": COUNT, "variables": "{not json"}, JSON_ACCEPT),
]
_ERROR_ID = re.compile(r"[0-9a-f]{12}")


def _graphql_view(app: Any) -> Any:
    return next(r for r in app.routes if getattr(r, "path", None) == "/graphql").endpoint


async def _answer(http: httpx.AsyncClient, method: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
    if method == "GET":
        response = await http.get("/graphql", params=payload, headers=headers)
    else:
        response = await http.post("/graphql", json=payload, headers=headers)
    kept = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")}
    return response.status_code, kept, _ERROR_ID.sub("ID", response.text)


async def _both(services: Any, requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> tuple[list, list]:
    """Each request's answer from an app on the direct path and from one on Strawberry's path."""
    direct_app, strawberry_app = create_app(services=services), create_app(services=services)
    assert _graphql_view(direct_app).schema.direct is not None
    _graphql_view(strawberry_app).schema.direct = None
    answers: tuple[list, list] = ([], [])
    for app, out in zip((direct_app, strawberry_app), answers, strict=True):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            for method, payload, headers in requests:
                out.append(await _answer(http, method, payload, headers))
    return answers


async def test_both_paths_answer_every_request_alike(services):
    services.settings = services.settings.with_changes(
        max_query_tokens=100, max_query_bytes=2000, max_aliases=2, max_query_depth=4
    )
    direct, plain = await _both(services, REQUESTS)
    for request, one, other in zip(REQUESTS, direct, plain, strict=True):
        assert one == other, request
    assert [status for status, _, _ in direct].count(200) >= 8  # the cases really ran, not just failed alike


async def test_unexpected_errors_are_masked_coded_and_logged_alike(services, monkeypatch, caplog):
    from churns_gql.services import runs as run_service

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("secret database detail")

    monkeypatch.setattr(run_service, "count_runs", broken)
    caplog.set_level(logging.INFO)
    direct, plain = await _both(services, [("POST", {"query": COUNT}, JSON_ACCEPT)])
    assert direct == plain
    body = json.loads(direct[0][2])
    assert body["data"] is None and "secret" not in direct[0][2]
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL", "errorId": "ID"}
    # Each path logs the original error (Strawberry's logger) and the masked one's id (ours), with the traceback.
    logged = [(r.name, r.levelname, _ERROR_ID.sub("ID", r.getMessage())) for r in caplog.records if r.exc_info]
    assert len(logged) == 4 and logged[:2] == logged[2:]
    assert {name for name, _, _ in logged} == {"strawberry.execution", "churns_gql.errors"}


async def test_an_outage_is_unavailable_on_both_paths(services, monkeypatch):
    from churns_gql.services import runs as run_service

    async def unreachable(*args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(run_service, "count_runs", unreachable)
    direct, plain = await _both(services, [("POST", {"query": COUNT}, SPEC_ACCEPT)])
    assert direct == plain
    assert json.loads(direct[0][2])["errors"][0]["extensions"] == {"code": "UNAVAILABLE"}


async def test_persisted_queries_take_the_direct_path_alike(services):
    query = "query Persisted { runs { totalCount } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}
    requests = [
        ("POST", {"query": query, "extensions": extensions}, JSON_ACCEPT),
        ("POST", {"extensions": extensions}, JSON_ACCEPT),
        ("GET", {"extensions": json.dumps(extensions)}, SPEC_ACCEPT),
    ]
    direct, plain = await _both(services, requests)
    assert direct == plain
    assert [json.loads(text) for _, _, text in direct] == [{"data": {"runs": {"totalCount": 0}}}] * 3


async def test_a_valid_query_does_not_go_through_strawberrys_execute(client, monkeypatch):
    from churns_gql.graphql.schema import ChurnsSchema

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Strawberry's execute ran")

    monkeypatch.setattr(ChurnsSchema, "execute", refuse)
    assert await client.data(COUNT) == {"runs": {"totalCount": 0}}
    assert await client.data("query Named { __typename }") == {"__typename": "Query"}


def test_tracing_keeps_every_hook():
    assert build_schema(tracing=True).direct is None
    assert build_schema().direct is not None


async def test_operation_extensions_and_context_reach_resolvers():
    @strawberry.type
    class Query:
        @strawberry.field
        def seen(self, info: strawberry.Info) -> str:
            return json.dumps([info.context["who"], info.input_extensions])

    schema = strawberry.Schema(query=Query)
    direct = DirectPath(schema, build_schema().direct.rules)  # type: ignore[union-attr]
    result = await direct.execute(
        "{ seen }",
        variables=None,
        context={"who": "me"},
        root_value=None,
        operation_name=None,
        allowed={OperationType.QUERY},
        extensions={"trace": "1"},
    )
    assert result.errors is None and json.loads(result.data["seen"]) == ["me", {"trace": "1"}]


@pytest.mark.parametrize(
    ("query", "name", "allowed", "runs"),
    [
        ("{ __typename }", None, {OperationType.QUERY}, True),
        ("query A { __typename }", "A", {OperationType.QUERY}, True),
        ("query A { __typename }", "B", {OperationType.QUERY}, False),
        ("mutation { __typename }", None, {OperationType.QUERY}, False),
        (TWO, None, {OperationType.QUERY}, False),
        ("{ nope }", None, {OperationType.QUERY}, False),
        ("{ __typename", None, {OperationType.QUERY}, False),
        (None, None, {OperationType.QUERY}, False),
    ],
)
def test_only_cached_valid_allowed_documents_run_directly(query, name, allowed, runs):
    direct = build_schema().direct
    assert direct is not None
    assert (direct.document(query, name, allowed) is not None) is runs


async def test_kept_verdicts_answer_as_the_first_time(services):
    services.settings = services.settings.with_changes(
        max_query_tokens=100, max_query_bytes=2000, max_aliases=2, max_query_depth=4
    )
    direct, plain = await _both(services, REQUESTS + REQUESTS)
    assert direct[len(REQUESTS) :] == plain[: len(REQUESTS)] == plain[len(REQUESTS) :]


def test_verdicts_are_kept_per_operation_name_and_allowed_types_and_bounded(monkeypatch):
    from churns_gql.graphql import direct_path

    direct = build_schema().direct
    assert direct is not None
    query, mutation = {OperationType.QUERY}, {OperationType.QUERY, OperationType.MUTATION}
    assert direct.document(TWO, "A", query) is not None and direct.document(TWO, "C", query) is None
    assert direct.document(TWO, "A", query)[1] == "A" and direct.document(TWO, "B", query)[1] == "B"  # type: ignore[index]
    text = 'mutation { cancelRun(id: "x") { userErrors { code } } }'
    assert direct.document(text, None, query) is None and direct.document(text, None, mutation) is not None
    assert direct.document("{ __typename }", {"obj": 1}, query) is None  # type: ignore[arg-type]  # any JSON
    assert direct.document("{ __typename }", ["A"], query) is None  # type: ignore[arg-type]
    monkeypatch.setattr(direct_path, "PLANS", 3)
    direct = build_schema().direct
    assert direct is not None
    for n in range(5):
        assert direct.document(f"query Q{n} {{ __typename }}", None, query) is not None
    assert direct._verdicts.cache_info().currsize == 3
