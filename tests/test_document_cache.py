"""The one document extension: limits before parsing, parse and validation cached across requests."""

from __future__ import annotations

from churns_gql.config import Settings
from churns_gql.graphql.document_cache import CachedDocuments
from churns_gql.graphql.schema import build_schema


def _shared(schema):
    (extension,) = [e() for e in schema.extensions[:1]]
    assert isinstance(extension, CachedDocuments)
    return extension.shared


async def test_a_repeated_document_is_parsed_and_validated_once():
    schema = build_schema()
    shared = _shared(schema)
    for _ in range(3):
        result = await schema.execute("query Again { __typename }")
        assert result.errors is None and result.data == {"__typename": "Query"}
    assert shared.parse.cache_info().misses == 1 and shared.parse.cache_info().hits == 2
    assert shared.validate.cache_info().misses == 1 and shared.validate.cache_info().hits == 2


async def test_limits_still_hold_through_the_one_extension():
    schema = build_schema(Settings.defaults(max_query_bytes=60, max_query_tokens=20))
    long = await schema.execute("{ __typename }" + " " * 60)
    assert long.errors and long.errors[0].extensions == {"code": "QUERY_TOO_COMPLEX"}
    tokens = await schema.execute("{ " + "a: __typename " * 10 + "}")
    assert tokens.errors and tokens.errors[0].extensions["code"] == "QUERY_TOO_COMPLEX"
    syntax = await schema.execute("{ __typename")
    assert syntax.errors and syntax.errors[0].extensions["code"] == "GRAPHQL_PARSE_FAILED"
