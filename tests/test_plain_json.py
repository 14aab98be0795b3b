"""A plain JSON POST is read without Strawberry's Content-Type parser, into exactly what that parser returns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cross_web import HTTPException
from starlette.requests import Request
from strawberry.asgi import GraphQL

from churns_gql.app import create_app
from churns_gql.graphql.http_view import GraphQLOverHTTP


def _adapter(view: Any, body: bytes, content_type: str, method: str = "POST") -> Any:
    scope = {
        "type": "http",
        "method": method,
        "path": "/graphql",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return view.request_adapter_class(Request(scope, receive))


def _view(settings: Any) -> Any:
    app = create_app(settings)
    return next(r for r in app.routes if getattr(r, "path", None) == "/graphql").endpoint


BODIES = [
    {"query": "{ __typename }"},
    {"query": "query Q($n: Int) { runs(first: $n) { totalCount } }", "variables": {"n": 1}, "operationName": "Q"},
    {"query": None, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
    {"query": "{ __typename }", "variables": None, "extensions": None, "operationName": None},
    {},
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_plain_json_reads_what_strawberrys_parser_reads(settings, body, content_type):
    view = _view(settings)
    raw = json.dumps(body).encode()
    ours = await view._plain_json(_adapter(view, raw, content_type))
    theirs = await GraphQL.parse_http_body(view, _adapter(view, raw, content_type))
    assert ours is not None and ours == theirs


@pytest.mark.parametrize(
    ("raw", "content_type", "method"),
    [
        (b'[{"query": "{ __typename }"}]', "application/json", "POST"),  # a batch: Strawberry refuses it
        (b'{"query": 1}', "application/json", "POST"),
        (b'{"query": "{ __typename }", "variables": []}', "application/json", "POST"),
        (b'{"query": "{ __typename }", "extensions": "x"}', "application/json", "POST"),
        (b'{"query": "{ __typename }"}', "application/graphql-response+json", "POST"),
        (b'{"query": "{ __typename }"}', "Application/JSON", "POST"),
        (b'{"query": "{ __typename }"}', "text/plain", "POST"),
        (b"", "application/json", "GET"),
    ],
)
async def test_anything_else_is_left_to_strawberrys_parser(settings, raw, content_type, method):
    view = _view(settings)
    assert await view._plain_json(_adapter(view, raw, content_type, method)) is None


async def test_malformed_json_is_refused_as_strawberry_refuses_it(settings):
    view = _view(settings)
    with pytest.raises(HTTPException) as ours:
        await view._plain_json(_adapter(view, b"{nope", "application/json"))
    with pytest.raises(HTTPException) as theirs:
        await GraphQL.parse_http_body(view, _adapter(view, b"{nope", "application/json"))
    assert (
        (ours.value.status_code, ours.value.reason)
        == (theirs.value.status_code, theirs.value.reason)
        == (400, "Unable to parse request body as JSON")
    )
    assert isinstance(view, GraphQLOverHTTP)
