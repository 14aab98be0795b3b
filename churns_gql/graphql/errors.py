"""Errors a client may see verbatim; every other exception is masked with an id and logged."""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger("churns_gql.errors")


class PublicError(Exception):
    """An expected problem with a query's arguments; its message is shown to the client, with its code."""

    def __init__(self, message: str, code: str = "BAD_USER_INPUT") -> None:
        super().__init__(message)
        # graphql-core copies an original error's `extensions` onto the GraphQLError it reports.
        self.extensions = {"code": code}


def _is_public(error: GraphQLError) -> bool:
    # No original error: a parse or validation error about the document itself, safe to show.
    return error.original_error is None or isinstance(error.original_error, PublicError)


class MaskUnexpectedErrors(MaskErrors):
    """Replaces unexpected errors by 'Unexpected error (id)' and logs the traceback under that id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not _is_public(e), error_message="Unexpected error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Log the real error under a fresh id and give the client only the id."""
        error_id = uuid.uuid4().hex[:12]
        original = error.original_error
        log.error("unexpected error %s at %s", error_id, error.path,
                  exc_info=(type(original), original, original.__traceback__) if original else None)
        return GraphQLError(
            message=f"Unexpected error ({error_id})", nodes=error.nodes, source=error.source,
            positions=error.positions, path=error.path, extensions={"code": "INTERNAL", "errorId": error_id},
        )
