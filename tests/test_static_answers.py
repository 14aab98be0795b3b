"""Static documents (`{ __typename }`) are answered from memory once served, with every check still in front."""

from __future__ import annotations

from typing import Any

import pytest

from churns_gql.graphql.http_view import GraphQLOverHTTP
from churns_gql.graphql.static_answers import StaticAnswers
from churns_gql.services import tokens


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents the normal path executed, in order."""
    seen: list[str] = []
    original = GraphQLOverHTTP.execute_single

    async def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["request_data"].query if "request_data" in kwargs else args[-1].query)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(GraphQLOverHTTP, "execute_single", counting)
    return seen


def _headers(response: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.items() if k != "x-request-id"]


async def test_typename_is_answered_from_memory_after_one_execution(client: Any, executed: list[str]):
    body = b'{"query": "{ a: __typename __typename }"}'
    first = await client.http.post("/graphql", content=body, headers={"content-type": "application/json"})
    second = await client.http.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert executed == ["{ a: __typename __typename }"]
    assert first.status_code == second.status_code == 200
    assert second.content == first.content == b'{"data":{"a":"Query","__typename":"Query"}}'
    assert _headers(second) == _headers(first)
    assert second.headers["x-request-id"] and second.headers["content-security-policy"]
    negotiated = await client.http.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "accept": "application/graphql-response+json"},
    )
    assert len(executed) == 1
    assert negotiated.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert negotiated.content == first.content


@pytest.mark.parametrize(
    "request_body",
    [
        {"query": "{ __typename runs { totalCount } }"},
        {"query": "query Q { __typename }", "operationName": "Other"},
        {"query": "query($x: Int) { __typename }", "variables": {"x": 1}},
        {"query": "{ __typename @skip(if: true) }"},
        {"query": "{ ... on Query { __typename } }"},
        {"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}},
        {"query": "mutation { __typename }"},
    ],
)
async def test_other_documents_keep_executing(client: Any, executed: list[str], request_body: dict[str, Any]):
    for _ in range(2):
        await client.http.post("/graphql", json=request_body)
    assert len(executed) == 2 or (executed == [] and "extensions" in request_body)


async def test_a_refused_static_document_is_not_kept(client: Any, services: Any, executed: list[str]):
    aliases = " ".join(f"a{i}: __typename" for i in range(services.settings.max_aliases + 1))
    for _ in range(2):
        refused = await client.http.post("/graphql", json={"query": f"{{ {aliases} }}"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(executed) == 2


async def test_the_token_check_stays_in_front_of_a_kept_answer(client: Any, services: Any, executed: list[str]):
    async with services.db() as session:
        _row, token = await tokens.create_token(session, "t")
        await session.commit()
    services.gate.forget()
    ok = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.json() == {"data": {"__typename": "Query"}}
    missing = await client.http.post("/graphql", json={"query": "{ __typename }"})
    assert missing.status_code == 401
    again = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert again.json() == {"data": {"__typename": "Query"}} and len(executed) == 1


async def test_an_oversized_body_is_refused_before_any_look_up(client: Any, services: Any):
    padding = " " * (services.settings.max_request_bytes + 1)
    response = await client.http.post(
        "/graphql",
        content=f'{{"query": "{{ __typename }}"{padding}}}'.encode(),
        headers={"content-type": "application/json", "transfer-encoding": "chunked"},
    )
    assert response.status_code == 413


def test_the_kept_answers_are_bounded():
    answers = StaticAnswers(size=2)
    for i in range(3):
        body = f'{{"query": "{{ a{i}: __typename }}"}}'.encode()
        predicted, name = answers.predict(body) or (None, None)
        answers.learn(body, predicted, name, 200, f'{{"data":{{"a{i}":"Query"}}}}'.encode())
    assert answers.get(b'{"query": "{ a0: __typename }"}') is None
    assert answers.get(b'{"query": "{ a2: __typename }"}') is not None
    # An answer other than the predicted one is never kept.
    body = b'{"query": "{ __typename }"}'
    answers.learn(body, {"data": {"__typename": "Query"}}, None, 200, b'{"data":{"__typename":"Mutation"}}')
    assert answers.get(body) is None
