"""Every GraphQL error gets an `extensions.code`; unexpected ones are masked with an id and logged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from strawberry.extensions import MaskErrors

from churns_gql.error_codes import ErrorCode
from churns_gql.services.health import is_disk_full, is_outage

log = logging.getLogger("churns_gql.errors")

# Codes of errors about the request itself (nothing ran): with graphql-response+json these answer 400.
REQUEST_ERROR_CODES = frozenset(
    {
        ErrorCode.GRAPHQL_PARSE_FAILED.value,
        ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
        ErrorCode.OPERATION_RESOLUTION_FAILURE.value,
        ErrorCode.QUERY_TOO_COMPLEX.value,
    }
)
# graphql-core's messages for an operation it cannot pick (execute's build step, before any resolver).
_OPERATION_MESSAGES = ("Must provide operation name", "Unknown operation named", "Must provide an operation")


class PublicError(Exception):
    """An expected problem with a query's arguments; its message is shown to the client, with its code."""

    def __init__(self, message: str, code: ErrorCode | str = ErrorCode.BAD_USER_INPUT) -> None:
        super().__init__(message)
        # graphql-core copies an original error's `extensions` onto the GraphQLError it reports.
        self.extensions = {"code": ErrorCode(code).value}


def error_code(error: GraphQLError) -> str | None:
    """The code an error already carries, if any."""
    return (error.extensions or {}).get("code")


def with_code(error: GraphQLError, code: ErrorCode) -> GraphQLError:
    """The error with `extensions.code` set (an existing code is kept)."""
    if error_code(error) is None:
        error.extensions = {**(error.extensions or {}), "code": code.value}
    return error


def _is_coercion(error: GraphQLError) -> bool:
    # Variable coercion happens in execute's build step: no path, and graphql-core's messages name the variable.
    return error.path is None and error.message.startswith("Variable '$")


class CodedErrors(MaskErrors):
    """Codes parse, validation, operation and coercion errors by the phase they come from; masks the rest.

    graphql-core attaches `original_error` to coercion errors too, so "has an original error" alone does
    not mean unexpected: errors are classified before masking, and only uncoded ones are masked.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: error_code(e) is None, error_message="Unexpected error")

    def on_parse(self) -> Iterator[None]:
        """Code the errors parsing left in the execution context (a token flood is too complex, not malformed)."""
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError):
                too_many = error.message.startswith("Syntax Error: Document contains more than")
                with_code(error, ErrorCode.QUERY_TOO_COMPLEX if too_many else ErrorCode.GRAPHQL_PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        """Refuse several operations without operationName; code what validation found (QUERY_TOO_COMPLEX kept).

        Runs after the validation cache's hook, so its verdict replaces the cached one for this request only.
        """
        context = self.execution_context
        document = context.graphql_document
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)] if document else []
        # `operation_name` falls back to the first operation's name; only the name the client sent counts.
        if len(operations) > 1 and not context._provided_operation_name:
            context.pre_execution_errors = [
                GraphQLError(
                    "the document has several operations: say which to run with operationName",
                    extensions={"code": ErrorCode.OPERATION_RESOLUTION_FAILURE.value},
                )
            ]
        yield
        for error in self.execution_context.pre_execution_errors or ():
            with_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED)

    def _process_result(self, result: object) -> None:
        """Code what execution's build step refused (operation choice, variable coercion), then mask the rest."""
        for error in getattr(result, "errors", None) or ():
            if error.path is None and error.message.startswith(_OPERATION_MESSAGES):
                with_code(error, ErrorCode.OPERATION_RESOLUTION_FAILURE)
            elif _is_coercion(error):
                with_code(error, ErrorCode.BAD_USER_INPUT)
            elif error_code(error) is None and is_outage(error.original_error):
                # A database restart is not a bug: say so with a code a client can retry on.
                log.warning("database unreachable at %s: %s", error.path, error.original_error.__class__.__name__)
                error.message = "the database cannot be reached right now; try again"
                with_code(error, ErrorCode.UNAVAILABLE)
            elif error_code(error) is None and is_disk_full(error.original_error):
                # What failed is already undone (staging folders, pending files); space can be freed and retried.
                log.warning("storage full at %s", error.path)
                error.message = "the server's storage is full right now; try again later"
                with_code(error, ErrorCode.UNAVAILABLE)
        # MaskErrors checks `errors` with isinstance on a runtime Protocol, which costs more than the rest
        # of a subscription event's delivery; having the attribute is all that check asks.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]  # it has errors, so it is a result

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Log the real error under a fresh id and give the client only the id."""
        error_id = uuid.uuid4().hex[:12]
        original = error.original_error
        log.error(
            "unexpected error %s at %s",
            error_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__) if original else None,
        )
        return GraphQLError(
            message=f"Unexpected error ({error_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": ErrorCode.INTERNAL.value, "errorId": error_id},
        )
