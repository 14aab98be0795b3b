"""The strawberry Schema with its extensions."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from churns_gql.config import Settings
from churns_gql.graphql.errors import MaskUnexpectedErrors
from churns_gql.graphql.mutations import Mutation
from churns_gql.graphql.queries import Query
from churns_gql.graphql.subscriptions import Subscription
from churns_gql.graphql.types import Image, Refinement

def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The API's schema: depth, alias and token limits from settings, and masking of unexpected errors."""
    limits = settings or Settings()
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Image, Refinement],
        extensions=[
            lambda: QueryDepthLimiter(max_depth=limits.max_query_depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=limits.max_query_tokens),
            MaskUnexpectedErrors,
        ],
    )


schema = build_schema()
"""The schema with default limits, as exported to schema.graphql."""
