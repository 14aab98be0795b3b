"""GraphQL over HTTP as the spec says: media-type negotiation, status codes, JSON error bodies with codes."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData, process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from churns_gql import metrics
from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.errors import REQUEST_ERROR_CODES, error_code, with_code
from churns_gql.graphql.persisted import DocumentRefused

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"
# Content-Type values Strawberry's parser reads as application/json (any other value takes its parser).
_PLAIN_JSON = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
USE_WEBSOCKET = (
    "subscriptions are not served over plain HTTP: use a websocket on /graphql (graphql-transport-ws or graphql-ws)"
)


class RequestRefused(DocumentRefused):
    """A request refused before execution, answered as a JSON error body with a status and a code."""


def error_response(
    status: int,
    message: str,
    code: ErrorCode,
    *,
    media_type: str = LEGACY_JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON body `{"errors": [{message, extensions: {code}}]}` with the given status."""
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code.value}}]},
        status_code=status,
        headers=dict(headers or {}),
        media_type=media_type,
    )


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str:
    """The response media type: graphql-response+json when the client prefers it, else legacy JSON.

    A missing Accept or */* keeps application/json: clients written before the spec expect it (and 200s).
    Kept per Accept value (clients send a handful): parsing one cost more than the rest of the response.
    """
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            if param.replace(" ", "").lower().startswith("q="):
                try:
                    quality = float(param.split("=", 1)[1])
                except ValueError:
                    quality = 0.0
        media = media.lower()
        weights[media] = max(quality, weights.get(media, 0.0))
    preferred = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return GRAPHQL_RESPONSE_JSON if preferred > 0 and preferred >= weights.get(LEGACY_JSON, 0.0) else LEGACY_JSON


def is_request_error(result: Any) -> bool:
    """Whether nothing executed: no data and only parse, validation, operation or coercion errors."""
    errors = getattr(result, "errors", None) or []
    if getattr(result, "data", None) is not None or not errors:
        return False
    return all(
        error_code(e) in REQUEST_ERROR_CODES or (error_code(e) == ErrorCode.BAD_USER_INPUT.value and e.path is None)
        for e in errors
    )


def _refusal(exc: HTTPException, method: str) -> RequestRefused:
    """Strawberry's plain-text HTTP refusals as coded ones (405 for a mutation over GET)."""
    cause = exc.__cause__
    if isinstance(cause, InvalidOperationTypeError) and cause.operation_type == OperationType.SUBSCRIPTION:
        return RequestRefused(400, USE_WEBSOCKET, ErrorCode.BAD_REQUEST)
    if isinstance(cause, InvalidOperationTypeError) and method == "GET":
        return RequestRefused(405, "mutations need POST", ErrorCode.BAD_REQUEST, {"Allow": "POST"})
    if isinstance(cause, CannotGetOperationTypeError):
        return RequestRefused(400, exc.reason, ErrorCode.OPERATION_RESOLUTION_FAILURE)
    if exc.status_code == 405:
        return RequestRefused(405, exc.reason, ErrorCode.BAD_REQUEST, {"Allow": "GET, POST"})
    return RequestRefused(exc.status_code, exc.reason, ErrorCode.BAD_REQUEST)


def _form_refusal(exc: StarletteHTTPException) -> RequestRefused:
    """Starlette's plain-text multipart refusals as coded ones: a form field (e.g. `operations`) over 1 MB is
    TOO_LARGE (413), a malformed or overfull form BAD_REQUEST."""
    if "exceeded maximum size" in exc.detail:
        return RequestRefused(413, f"{exc.detail} (a form field, e.g. operations)", ErrorCode.TOO_LARGE)
    return RequestRefused(exc.status_code, exc.detail, ErrorCode.BAD_REQUEST)


class GraphQLOverHTTP:
    """Mixin for Strawberry's ASGI view: negotiated media type, spec status codes, coded JSON refusals."""

    async def serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one HTTP request; any refusal is a coded JSON body in the negotiated media type."""
        request = Request(scope=scope, receive=receive)
        media_type = negotiate(request.headers.get("accept"))
        scope.setdefault("state", {})["media_type"] = media_type
        try:
            try:
                response = await self.run(request)  # type: ignore[attr-defined]
            except HTTPException as exc:
                raise _refusal(exc, request.method) from exc
            except StarletteHTTPException as exc:  # Starlette's multipart parser refusing a part or a count
                raise _form_refusal(exc) from exc
        except DocumentRefused as refused:
            response = error_response(
                refused.status, refused.message, refused.code, media_type=media_type, headers=refused.headers
            )
            metrics.count_errors([{"extensions": {"code": refused.code.value}}])
        metrics.count_request(scope["state"].get("operation"), response.status_code)
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL only for a bare GET: a hash-only persisted query (no `query` parameter) is executed."""
        # Strawberry's check first: it refuses a POST before the query string is parsed.
        if not super().should_render_graphql_ide(request):  # type: ignore[misc]  # a mixin over the view
            return False
        params = request.query_params
        return not any(params.get(key) is not None for key in ("extensions", "operationName", "variables"))

    async def parse_http_body(self, request: Any) -> Any:
        """The request's GraphQL data with its document resolved from a persisted-query hash (or refused)."""
        data = await self._plain_json(request)
        if data is None:
            data = await super().parse_http_body(request)  # type: ignore[misc]  # a mixin over the view
        documents = self.services.documents  # type: ignore[attr-defined]  # the view has .services
        # A refused document (a miss, a mismatch, an untrusted one) is answered like any refused request.
        for item in data if isinstance(data, list) else [data]:
            item.query = await documents.resolve(item.query, item.extensions)
        return data

    async def _plain_json(self, request: Any) -> GraphQLRequestData | None:
        """A JSON POST of one well-formed operation, read as Strawberry reads it; None for anything else.

        Strawberry parses the Content-Type with the email package on every request (≈ 9 µs, more than the
        rest of the body's handling); the common exact values need no parsing. Anything else, and any body
        Strawberry would refuse, goes to its own parser (the body is kept, so it is read once).
        """
        if request.method != "POST" or request.content_type not in _PLAIN_JSON:
            return None
        if self._get_stream_transport_from_headers(request.headers) is not None:  # type: ignore[attr-defined]
            return None
        data = self.parse_json(await request.get_body())  # type: ignore[attr-defined]  # the view's
        if not isinstance(data, dict):
            return None
        query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str | None) and isinstance(variables, dict | None) and isinstance(extensions, dict | None)
        ):
            return None
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=data.get("operationName"),
            extensions=extensions,
            protocol="http",
        )

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Any, root_value: Any, request_data: Any
    ) -> Any:
        """Execute one operation; subscriptions are refused here (they need a websocket)."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        request.scope.setdefault("state", {})["operation"] = request_data.operation_name
        schema = self.schema  # type: ignore[attr-defined]  # the view's
        try:
            direct = getattr(schema, "direct", None)
            if direct is not None:
                return await direct.execute(
                    request_data.query,
                    variables=request_data.variables,
                    context=context,
                    root_value=root_value,
                    operation_name=request_data.operation_name,
                    allowed=allowed,
                    extensions=request_data.extensions,
                )
            return await schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    async def process_result(self, request: Request, result: Any) -> Any:
        """The response body; with graphql-response+json a request error has no `data` and answers 400."""
        for error in getattr(result, "errors", None) or ():
            _code_late(error)
        body = process_result(result)
        metrics.count_errors(list(body.get("errors") or []))  # type: ignore[arg-type]  # plain dicts from process_result
        if request.scope.get("state", {}).get("media_type") == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            body.pop("data", None)
            request.scope["state"]["request_error"] = True
        return body

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """A JSON response in the negotiated media type, with the status a request error calls for."""
        state = getattr(sub_response, "churns_state", {})
        # As Strawberry's ASGI view builds it, with the negotiated type given at once rather than replaced after.
        response = Response(
            self.encode_json(response_data),  # type: ignore[attr-defined]  # the view's encoder
            status_code=200,
            media_type=f"{state.get('media_type', LEGACY_JSON)}; charset=utf-8",
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        elif state.get("request_error"):
            response.status_code = 400
        return response

    async def get_sub_response(self, request: Any) -> Response:
        """Strawberry's sub-response, sharing the request's negotiation state with create_response."""
        sub_response: Response = await super().get_sub_response(request)  # type: ignore[misc]  # a mixin over the view
        sub_response.churns_state = request.scope.setdefault("state", {})  # type: ignore[attr-defined]
        return sub_response


def _code_late(error: GraphQLError) -> None:
    # Parse errors raised by the parser-cache extension skip the schema extensions' hooks: coded here.
    if isinstance(error, GraphQLSyntaxError):
        too_many = error.message.startswith("Syntax Error: Document contains more than")
        with_code(error, ErrorCode.QUERY_TOO_COMPLEX if too_many else ErrorCode.GRAPHQL_PARSE_FAILED)
