"""The one list of error codes: userErrors' `code` and GraphQL errors' `extensions.code` both come from it."""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    """Every code a client can see; the GraphQL enum UserErrorCode is made from it (values only ever added)."""

    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    NOT_READY = "NOT_READY"
    TOO_LARGE = "TOO_LARGE"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UNSUPPORTED_BY_PROVIDER = "UNSUPPORTED_BY_PROVIDER"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    INTERNAL = "INTERNAL"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.INVALID: "A value breaks a rule of the input (range, length, format, combination).",
    ErrorCode.NOT_FOUND: "The thing named does not exist, or the caller may not see it.",
    ErrorCode.NOT_READY: "The thing exists but is not in a state that allows this yet.",
    ErrorCode.TOO_LARGE: "A file, image or request body is over a size limit.",
    ErrorCode.UNSUPPORTED_FORMAT: "A file is not in a format the API accepts.",
    ErrorCode.CONFLICT: "The change conflicts with the current state (e.g. already finished).",
    ErrorCode.UNAVAILABLE: "A backing service (database, queue, storage) cannot be reached or is full right now; try again.",
    ErrorCode.RATE_LIMITED: "Too many jobs queued in the last minute; the message says how long to wait.",
    ErrorCode.QUOTA_EXCEEDED: "A quota of the caller's token (active jobs, daily spend, storage) or of its websocket "
    "(operations open at once) is used up.",
    ErrorCode.UNSUPPORTED_BY_PROVIDER: "The current image provider cannot do what was asked (the message says why).",
    ErrorCode.GRAPHQL_PARSE_FAILED: "The document is not valid GraphQL syntax.",
    ErrorCode.GRAPHQL_VALIDATION_FAILED: "The document does not validate against the schema.",
    ErrorCode.OPERATION_RESOLUTION_FAILURE: "No single operation to run: unknown operationName, or several "
    "operations and no operationName.",
    ErrorCode.BAD_USER_INPUT: "An argument or variable has a wrong value (type coercion, cursor, page size).",
    ErrorCode.BAD_REQUEST: "The HTTP request itself is malformed or not allowed (body, method, headers).",
    ErrorCode.UNAUTHENTICATED: "No valid API token was given.",
    ErrorCode.FORBIDDEN: "The request is not allowed: a document outside the server's trusted documents (another "
    "token's data is NOT_FOUND, so its existence does not leak).",
    ErrorCode.QUERY_TOO_COMPLEX: "The document is over the size, depth, alias or cost limits.",
    ErrorCode.INTERNAL: "An unexpected server error; the message carries an id to find it in the logs.",
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: "No document is registered under the persisted query's hash (message "
    "PersistedQueryNotFound): send it again with the document.",
}
"""One line per code: the schema's enum value descriptions and the README's table."""
