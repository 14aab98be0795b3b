"""A direct way to graphql-core for an HTTP operation whose document is cached, valid and allowed.

Strawberry's `Schema.execute` builds an execution context, a fresh instance of every extension, an extension
runner and a middleware manager per request, then enters four hook phases whose context managers are rebuilt
each time; for a small query that costs more than graphql-core's execution. Our extensions (CachedDocuments,
CodedErrors) do nothing on the way of a valid document but look up the caches and, afterwards, code and mask
errors, so this path does exactly that around graphql-core's `execute`:

- the same parse and validation caches (`DocumentRules`), with the same size limit, token limit and rules;
- anything unusual before execution (no query, too long, a syntax or validation error, several operations
  without operationName, an unknown operation, a type the transport does not allow) goes to Strawberry's
  own path, which answers it as before; nothing has executed yet, so nothing runs twice;
- errors from execution are logged by Strawberry's `process_errors`, then coded and masked by CodedErrors,
  in Strawberry's order, so clients see the same bodies.

A schema with any other extension (tracing), directives or incremental delivery never takes this path.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, execute, specified_rules
from strawberry.execution import optimized_is_awaitable
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from churns_gql.graphql.document_cache import DocumentRules
from churns_gql.graphql.errors import CodedErrors

if TYPE_CHECKING:
    from strawberry import Schema


# Operations whose verdict (document and operation, or Strawberry's path) is kept; the least recently used goes first.
PLANS = 512


class DirectPath:
    """Runs HTTP operations straight through graphql-core when their document needs none of Strawberry's hooks."""

    def __init__(self, schema: Schema, rules: DocumentRules) -> None:
        self.schema = schema
        self.rules = rules
        # The very tuple CachedDocuments hands to the validation cache, so both paths share its entries.
        self.validation_rules = tuple(specified_rules) + rules.rules
        self._verdicts = lru_cache(maxsize=PLANS)(self._document)

    def document(
        self, query: str | None, operation_name: str | None, allowed: Iterable[OperationType]
    ) -> tuple[DocumentNode, str | None] | None:
        """The cached, valid document and the operation to run, or None when Strawberry's path must answer.

        Kept per query text, operation name and allowed types: the verdict depends on nothing else (the
        schema, limits and rules are fixed), and finding it again cost a parse-cache lookup, a validation-cache
        lookup that hashes the whole document tree, and a walk of its definitions on every request.
        """
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            # Clients send any JSON as operationName; only what can be a key is kept.
            return self._document(query, operation_name, allowed)
        return self._verdicts(query, operation_name, frozenset(allowed))

    def _document(
        self, query: str | None, operation_name: str | None, allowed: Iterable[OperationType]
    ) -> tuple[DocumentNode, str | None] | None:
        """document() without the kept verdicts."""
        rules = self.rules
        if not query or (rules.max_bytes > 0 and len(query) > rules.max_bytes):
            return None
        try:
            document = rules.parse(query, max_tokens=rules.max_tokens)
        except GraphQLError:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if not operations or (len(operations) > 1 and not operation_name):
            return None
        if operation_name is None:
            # Strawberry runs the first operation under its own name when none was given.
            first = operations[0]
            chosen: OperationDefinitionNode | None = first
            name = first.name.value if first.name else None
        else:
            chosen = next((op for op in operations if op.name and op.name.value == operation_name), None)
            name = operation_name
        if chosen is None or OperationType(chosen.operation.value) not in allowed:
            return None
        if rules.validate(self.schema._schema, document, self.validation_rules):
            return None
        return document, name

    async def execute(
        self,
        query: str | None,
        *,
        variables: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
        extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """The operation's result, through graphql-core directly or, for anything unusual, Strawberry's path."""
        found = self.document(query, operation_name, allowed)
        if found is None:
            return await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
                operation_extensions=extensions,
            )
        document, name = found
        schema = self.schema
        request = (query, variables, context, root_value, operation_name, allowed, extensions)
        try:
            result: Any = execute(
                schema._schema,
                document,
                root_value=root_value,
                context_value=context,
                variable_values=variables,
                operation_name=name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # a bool test, as Strawberry passes
                executor_class=schema.execution_context_class,
                operation_extensions=extensions,
            )
            if isawaitable(result):
                result = await result
        except Exception as exc:  # as Strawberry: logged, then answered as a pre-execution error, unmasked
            error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            self._log([error], document, *request)
            return PreExecutionError(data=None, errors=[error], extensions={})
        if result.errors:
            self._log(result.errors, document, *request)
            CodedErrors()._process_result(result)
        return ExecutionResult(data=result.data, errors=result.errors, extensions={})

    def _log(
        self,
        errors: list[GraphQLError],
        document: DocumentNode,
        query: str | None,
        variables: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
        extensions: dict[str, Any] | None,
    ) -> None:
        """Strawberry's error processing (its logger, before masking), with the execution context it would pass."""
        schema = self.schema
        execution_context = schema._create_execution_context(
            query=query,
            allowed_operation_types=allowed,
            variable_values=variables,
            context_value=context,
            root_value=root_value,
            operation_name=operation_name,
            operation_extensions=extensions,
        )
        execution_context.graphql_document = document
        execution_context.pre_execution_errors = errors
        schema._process_errors(errors, execution_context)
