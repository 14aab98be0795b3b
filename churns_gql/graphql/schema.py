"""The strawberry Schema with its extensions."""

from __future__ import annotations

from graphql import ASTValidationRule
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.extensions.tracing import OpenTelemetryExtension

from churns_gql.config import Settings
from churns_gql.graphql.cost import cost_rule
from churns_gql.graphql.direct_path import DirectPath
from churns_gql.graphql.document_cache import CachedDocuments, document_rules
from churns_gql.graphql.errors import CodedErrors
from churns_gql.graphql.fanout import FanoutExecutionContext
from churns_gql.graphql.mutations import Mutation
from churns_gql.graphql.queries import Query
from churns_gql.graphql.stream_hooks import LeanSchema
from churns_gql.graphql.subscriptions import Subscription
from churns_gql.graphql.tree_exec import TreeExecutionContext
from churns_gql.graphql.types import Image, Refinement

CACHED_DOCUMENTS = 512
"""Distinct query texts whose parse and validation are kept (bounded: query texts come from clients)."""


class ChurnsSchema(LeanSchema):
    """The API's schema, with the direct path HTTP operations take (None when tracing needs every hook)."""

    direct: DirectPath | None = None


def build_schema(settings: Settings | None = None, *, tracing: bool = False) -> ChurnsSchema:
    """The API's schema: depth, alias and token limits from settings, cached parsing and validation, masking.

    With `tracing`, Strawberry's OpenTelemetry extension adds a span per operation, parse, validation and resolver.
    """
    limits = settings or Settings.defaults()
    # The limit rules are made once: the validation cache is keyed by the rule classes, and the stock
    # limiter extensions make new ones per request, so nothing would ever be found in it.
    rules: list[type[ASTValidationRule]] = [
        depth_rule(limits.max_query_depth, None, None),
        alias_rule(limits.max_aliases),
        cost_rule(limits.max_query_cost),
    ]
    shared = document_rules(limits.max_query_bytes, limits.max_query_tokens, rules, CACHED_DOCUMENTS)
    traced = [OpenTelemetryExtension] if tracing else []
    built = ChurnsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Image, Refinement],
        # Traced schemas keep graphql-core's per-field path, so every resolver still gets its span.
        execution_context_class=FanoutExecutionContext if tracing else TreeExecutionContext,
        extensions=[lambda: CachedDocuments(shared), CodedErrors, *traced],
    )
    # The direct path does what CachedDocuments and CodedErrors do; any other extension needs Strawberry's.
    if not traced and not built.directives and not built.config.enable_experimental_incremental_execution:
        built.direct = DirectPath(built, shared)
    return built


schema = build_schema()
"""The schema with default limits, as exported to schema.graphql."""
