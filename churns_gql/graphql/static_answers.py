"""Answers that never change (`{ __typename }`), served again without executing once they have been served.

A document whose only fields are the query root's `__typename` answers the same bytes to every caller
(bench P4 measures exactly that request). The first time such a request body comes in it goes the
whole way (token check, limits, parse, validation, execution, extensions) and the answer is kept only
when it is exactly the predicted `{"data": {...: "Query"}}`; after that the same body is answered from
here, after the same token, CSRF and size checks (graphql/../app.py). Anything else about the request
(variables, extensions, a URL query string) keeps it on the normal path.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import FieldNode, GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse

MAX_ANSWERS = 256
"""Distinct request bodies kept (bounded: bodies come from clients; whitespace alone makes new ones)."""

_REQUEST_KEYS = frozenset({"query", "operationName", "variables", "extensions"})


class StaticAnswers:
    """Response bodies of fully static documents, keyed by the exact request body."""

    def __init__(self, root_name: str = "Query", size: int = MAX_ANSWERS) -> None:
        self.root_name = root_name
        self.size = size
        self._answers: dict[bytes, tuple[bytes, str | None]] = {}

    def get(self, body: bytes) -> tuple[bytes, str | None] | None:
        """The kept response body and operation name for a request body, or None."""
        return self._answers.get(body)

    def predict(self, body: bytes) -> tuple[Any, str | None] | None:
        """The response a static request body must get (as parsed JSON) and its operation name, or None."""
        if b"__typename" not in body:
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        if not isinstance(request, dict) or not set(request) <= _REQUEST_KEYS:
            return None
        query, name = request.get("query"), request.get("operationName")
        if not isinstance(query, str) or request.get("variables") or request.get("extensions"):
            return None
        if name is not None and not isinstance(name, str):
            return None
        data = self._static_data(query, name)
        return ({"data": data}, name) if data is not None else None

    def learn(self, body: bytes, predicted: Any, name: str | None, status: int, answer: bytes) -> None:
        """Keep an answer the normal path gave, when it is the predicted one with status 200."""
        if status != 200:
            return
        try:
            if json.loads(answer) != predicted:
                return
        except ValueError:
            return
        if len(self._answers) >= self.size:
            self._answers.pop(next(iter(self._answers)))
        self._answers[body] = (answer, name)

    def _static_data(self, query: str, name: str | None) -> dict[str, str] | None:
        """`{response key: root type name}` when the document is one query of `__typename` fields only."""
        try:
            # Small and bounded: only documents of __typename fields get this far, and the normal path has
            # already refused an over-long one before any answer is kept.
            document = parse(query, no_location=True, max_tokens=200)
        except GraphQLSyntaxError:
            return None
        if len(document.definitions) != 1:
            return None
        operation = document.definitions[0]
        if (
            not isinstance(operation, OperationDefinitionNode)
            or operation.operation != OperationType.QUERY
            or operation.variable_definitions
            or operation.directives
            or (name is not None and (operation.name is None or operation.name.value != name))
        ):
            return None
        data: dict[str, str] = {}
        for selection in operation.selection_set.selections:
            if (
                not isinstance(selection, FieldNode)
                or selection.name.value != "__typename"
                or selection.arguments
                or selection.directives
                or selection.selection_set
            ):
                return None
            data[(selection.alias or selection.name).value] = self.root_name
        return data or None
