"""One schema extension for a document's way to execution: size and token limits, cached parse and validation.

Strawberry builds every extension afresh for each request and calls each one's hooks in every phase; five
small extensions (size limit, token limit, parser cache, extra rules, validation cache) cost more per
`{ __typename }` than the work they guard. Together they are one extension with the same behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError, parse
from strawberry.extensions import SchemaExtension

from churns_gql.error_codes import ErrorCode


@dataclass(frozen=True)
class DocumentRules:
    """The limits and caches one schema shares across its requests."""

    max_bytes: int
    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
    parse: Callable[..., Any]
    validate: Callable[..., Any]


def document_rules(max_bytes: int, max_tokens: int, rules: list[type[ASTValidationRule]], cached: int) -> DocumentRules:
    """Limits plus bounded parse and validation caches (bounded: query texts come from clients)."""
    from strawberry.schema.schema import validate_document  # Strawberry's own import order needs it late

    return DocumentRules(
        max_bytes,
        max_tokens,
        tuple(rules),
        lru_cache(maxsize=cached)(parse),
        lru_cache(maxsize=cached)(validate_document),
    )


class CachedDocuments(SchemaExtension):
    """Refuses an over-long document before lexing, parses with a token limit and validates, both cached."""

    def __init__(self, shared: DocumentRules) -> None:
        super().__init__()
        self.shared = shared

    def on_operation(self) -> Iterator[None]:
        """Set the token limit and add the depth, alias and cost rules for this operation."""
        context = self.execution_context
        context.parse_options["max_tokens"] = self.shared.max_tokens
        context.validation_rules = context.validation_rules + self.shared.rules
        yield

    def on_parse(self) -> Iterator[None]:
        """Check the length (comments are not tokens), then use the cached parse when the text parses.

        A syntax error is left to Strawberry's own parse step, which reports it as a pre-execution error every
        transport sends (raised from this hook it would escape the websocket handler).
        """
        context = self.execution_context
        query = context.query or ""
        limit = self.shared.max_bytes
        if limit > 0 and len(query) > limit:
            raise GraphQLError(
                f"the query is {len(query):,} characters; the limit is {limit:,}",
                extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value},
            )
        with contextlib.suppress(GraphQLSyntaxError):
            context.graphql_document = self.shared.parse(query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        """Validate through the cache (CodedErrors, after this, may replace the verdict for this request)."""
        context = self.execution_context
        context.pre_execution_errors = self.shared.validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield
