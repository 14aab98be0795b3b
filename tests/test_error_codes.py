"""One enum of codes: userErrors and GraphQL errors' extensions.code both come from churns_gql.error_codes."""

from __future__ import annotations

import pytest

from churns_gql.error_codes import DESCRIPTIONS, ErrorCode
from churns_gql.graphql.schema import schema
from churns_gql.images import ImageRejected
from churns_gql.services.errors import Problem, UserInputError


def test_the_schema_enum_is_the_python_enum_and_every_value_is_described():
    enum_type = schema._schema.type_map["UserErrorCode"]
    assert set(enum_type.values) == {code.value for code in ErrorCode}
    assert all(value.description for value in enum_type.values.values())
    assert set(DESCRIPTIONS) == set(ErrorCode)


def test_the_schema_keeps_every_value_it_ever_had():
    # The codes before the one-enum change: removing or renaming any breaks clients (additive only).
    before = {
        "INVALID",
        "NOT_FOUND",
        "NOT_READY",
        "TOO_LARGE",
        "UNSUPPORTED_FORMAT",
        "CONFLICT",
        "UNAVAILABLE",
        "RATE_LIMITED",
        "QUOTA_EXCEEDED",
    }
    assert before <= set(schema._schema.type_map["UserErrorCode"].values)


def test_service_problems_are_typed_codes_and_unknown_codes_fail_early():
    problem = UserInputError.one("INVALID", "bad", "input", "prompt").problems[0]
    assert problem.code is ErrorCode.INVALID
    assert ImageRejected("TOO_LARGE", "big").code is ErrorCode.TOO_LARGE
    with pytest.raises(ValueError):
        Problem(None, "typo", "INVALD")


async def test_every_code_the_api_answers_is_in_the_enum(client):
    bodies = [
        (await client.http.post("/graphql", json={"query": "{"})).json(),
        (await client.http.post("/graphql", json={"query": "{ nope }"})).json(),
        (
            await client.http.post(
                "/graphql", json={"query": "query($f: Int) { runs(first: $f) { totalCount } }", "variables": {"f": "x"}}
            )
        ).json(),
        (await client.http.post("/graphql", json={"query": "{ runs(first: 999) { totalCount } }"})).json(),
        (await client.http.post("/graphql", json={"query": "query A { __typename }", "operationName": "B"})).json(),
    ]
    codes = [e["extensions"]["code"] for body in bodies for e in body["errors"]]
    assert codes == [
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        "BAD_USER_INPUT",
        "OPERATION_RESOLUTION_FAILURE",
    ]
    assert all(ErrorCode(code) for code in codes)
