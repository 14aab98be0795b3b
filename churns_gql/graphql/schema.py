"""The strawberry Schema with its extensions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphql import ASTValidationRule, GraphQLSyntaxError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.extensions.tracing import OpenTelemetryExtension

from churns_gql.config import Settings
from churns_gql.graphql.cost import MaxQueryBytes, cost_rule
from churns_gql.graphql.errors import CodedErrors
from churns_gql.graphql.fanout import FanoutExecutionContext
from churns_gql.graphql.mutations import Mutation
from churns_gql.graphql.queries import Query
from churns_gql.graphql.stream_hooks import LeanSchema
from churns_gql.graphql.subscriptions import Subscription
from churns_gql.graphql.types import Image, Refinement

CACHED_DOCUMENTS = 512
"""Distinct query texts whose parse and validation are kept (bounded: query texts come from clients)."""


class SafeParserCache(ParserCache):
    """Strawberry's parser cache, minus raising from its hook: a syntax error raised there escapes the
    websocket handler (the client got a bare `complete`); left uncached, the parse step reports it normally."""

    def on_parse(self) -> Iterator[None]:
        """Use the cached document when the text parses; otherwise let Strawberry's own parse report it."""
        context = self.execution_context
        # A syntax error is reported by Strawberry's own parse step, as a pre-execution error every transport sends.
        with contextlib.suppress(GraphQLSyntaxError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


def build_schema(settings: Settings | None = None, *, tracing: bool = False) -> LeanSchema:
    """The API's schema: depth, alias and token limits from settings, cached parsing and validation, masking.

    With `tracing`, Strawberry's OpenTelemetry extension adds a span per operation, parse, validation and resolver.
    """
    limits = settings or Settings()
    # The limit rules are made once: the validation cache is keyed by the rule classes, and the stock
    # limiter extensions make new ones per request, so nothing would ever be found in it.
    rules: list[type[ASTValidationRule]] = [depth_rule(limits.max_query_depth, None, None), alias_rule(limits.max_aliases),
             cost_rule(limits.max_query_cost)]
    traced = [OpenTelemetryExtension] if tracing else []
    return LeanSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Image, Refinement],
        execution_context_class=FanoutExecutionContext,
        extensions=[
            lambda: MaxQueryBytes(limits.max_query_bytes),
            lambda: MaxTokensLimiter(max_token_count=limits.max_query_tokens),
            lambda: SafeParserCache(maxsize=CACHED_DOCUMENTS),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
            CodedErrors,
            *traced,
        ],
    )


schema = build_schema()
"""The schema with default limits, as exported to schema.graphql."""
