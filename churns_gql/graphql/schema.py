"""The strawberry Schema with its extensions."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from churns_gql.graphql.errors import MaskUnexpectedErrors
from churns_gql.graphql.mutations import Mutation
from churns_gql.graphql.queries import Query
from churns_gql.graphql.subscriptions import Subscription
from churns_gql.graphql.types import Image, Refinement

MAX_DEPTH = 15
MAX_ALIASES = 100
MAX_TOKENS = 5000


def build_schema() -> strawberry.Schema:
    """The API's schema: depth, alias and token limits, and masking of unexpected errors."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Image, Refinement],
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            MaskUnexpectedErrors,
        ],
    )


schema = build_schema()
