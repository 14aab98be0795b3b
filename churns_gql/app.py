"""The Starlette application: /graphql (HTTP and websockets), /files, /healthz, /readyz and the web client."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import mimetypes
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from churns_gql import metrics, remote_files, thumbnails, tracing
from churns_gql.config import Settings, get_settings
from churns_gql.cors import PathCORS
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.error_codes import ErrorCode
from churns_gql.events import EventHub
from churns_gql.graphql import persisted
from churns_gql.graphql.context import AppServices, Context
from churns_gql.graphql.http_view import GraphQLOverHTTP, error_response
from churns_gql.graphql.schema import build_schema
from churns_gql.graphql.socket_guard import GuardedTransportWSHandler, GuardedWSHandler, SocketGuard
from churns_gql.logs import RequestId
from churns_gql.queue import JobQueue, redis_unreachable
from churns_gql.rest import rest_routes
from churns_gql.security_headers import LOCAL_GRAPHIQL_POLICY, SecurityHeaders
from churns_gql.services import health
from churns_gql.services import runs as run_service
from churns_gql.services.tokens import CHANNEL as TOKENS_CHANNEL
from churns_gql.services.tokens import OPEN, AuthRequired, AuthUnavailable, Caller, TokenGate
from churns_gql.storage import RunStorage

log = logging.getLogger("churns_gql.app")

# A multipart POST is a "simple" request browsers send cross-site without a preflight; requiring one of
# these headers forces a preflight, which is how Apollo Server guards uploads against CSRF.
_PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "x-requested-with", "graphql-preflight")
_SIMPLE_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded", "text/plain")
# The API's database connections, all kept once opened (the ceiling of the old 10 kept + 20 overflow). An
# overflow connection is closed on return and, under a burst, opened again moments later: asyncpg's connect,
# its TLS probe and SQLAlchemy's per-connection setup cost several times the read it served.
API_CONNECTIONS = 30


class GraphQLApp(GraphQLOverHTTP, GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, token checks on every operation and a CSRF guard."""

    graphql_transport_ws_handler_class = GuardedTransportWSHandler
    graphql_ws_handler_class = GuardedWSHandler

    def __init__(self, services: AppServices) -> None:
        settings = services.settings
        super().__init__(
            build_schema(settings, tracing=tracing.tracing_requested()),
            graphql_ide="graphiql",
            multipart_uploads_enabled=True,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.cors_origins,
        )
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token, and refuse simple cross-site-capable POSTs that carry no preflight-forcing header."""
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if not _is_ide_page(scope, headers):
                try:
                    scope.setdefault("state", {})["caller"] = await self.services.gate.caller(
                        headers.get("authorization")
                    )
                except AuthRequired as exc:
                    await _unauthorized(str(exc))(scope, receive, send)
                    return
                except AuthUnavailable as exc:
                    await _unavailable(str(exc))(scope, receive, send)
                    return
        if scope["type"] == "http" and scope.get("method") == "POST":
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in _SIMPLE_CONTENT_TYPES and not any(h in headers for h in _PREFLIGHT_HEADERS):
                response = error_response(
                    400,
                    "This request needs a non-simple header such as 'Apollo-Require-Preflight: true' "
                    "(CSRF protection for multipart uploads).",
                    ErrorCode.BAD_REQUEST,
                )
                await response(scope, receive, send)
                return
            limit = self.services.settings.max_request_bytes
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            started = False

            async def tracking_send(message: Any) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self.serve_http(scope, _limited(receive, limit), tracking_send)
            except _BodyTooLarge:
                if not started:
                    await _too_large(limit)(scope, receive, send)
            return
        if scope["type"] == "http":
            await self.serve_http(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        """The web build's API explorer (GraphiQL bundled, works offline); Strawberry's CDN page without a build."""
        page = self.services.settings.web_dir / "graphiql.html"
        if page.is_file():
            return HTMLResponse(
                page.read_text(encoding="utf-8"),
                headers={"Content-Security-Policy": LOCAL_GRAPHIQL_POLICY, "Cache-Control": "no-cache"},
            )
        return await super().render_graphql_ide(request)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """A fresh context (and fresh DataLoaders) per request or websocket connection."""
        caller = request.scope.get("state", {}).get("caller", OPEN)
        return Context(services=self.services, request=request, response=response, caller=caller)

    async def on_ws_connect(self, context: Context) -> Any:
        """Check the token in connection_init's payload before any subscription can start."""
        params = context.connection_params or {}
        try:
            context.caller = await self.services.gate.caller(params.get("authorization") or params.get("Authorization"))
        except AuthRequired as exc:
            raise ConnectionRejectionError() from exc
        return await super().on_ws_connect(context)


def _is_ide_page(scope: Scope, headers: dict[str, str]) -> bool:
    """Whether the request asks only for the GraphiQL page, which carries no data and needs no token.

    A GET with a `query` parameter executes it whatever the Accept header says, so it is authenticated.
    """
    if scope.get("method") != "GET" or "text/html" not in headers.get("accept", ""):
        return False
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return not any(key in params for key in ("query", "extensions", "operationName", "variables"))


class _BodyTooLarge(Exception):
    """The request body grew past the limit while streaming in."""


def _limited(receive: Receive, limit: int) -> Receive:
    # Counting as the body streams in refuses a body without a Content-Length before it is all read.
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge()
        return message

    return wrapped


def _too_large(limit: int) -> Response:
    return error_response(413, f"Request body over the limit of {limit // (1024 * 1024)} MB", ErrorCode.TOO_LARGE)


def _unauthorized(message: str) -> Response:
    return error_response(401, message, ErrorCode.UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})


def _unavailable(message: str) -> Response:
    """503 with a retryable code: the database is restarting, not the request at fault."""
    return error_response(503, message, ErrorCode.UNAVAILABLE, headers={"Retry-After": "2"})


_NO_WEB = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>churns-gql</title></head>
<body><main><h1>churns-gql</h1><p>The API is running. Explore it in <a href="/graphql">GraphiQL</a>.</p>
<p>The web client is served here once it is built (<code>web/dist</code>).</p></main></body></html>"""


async def _may_read(services: AppServices, caller: Caller, relative: str) -> bool:
    """Whether the caller owns the run a /files path is in (always, when auth is off)."""
    if caller.is_open:
        return True
    try:
        run_id = uuid.UUID(relative.split("/")[1])
    except (IndexError, ValueError):
        return False
    async with services.db() as session:
        owner = await run_service.run_owner(session, run_id)
    return owner is not None and owner == caller.token_id


def create_app(settings: Settings | None = None, *, services: AppServices | None = None) -> Starlette:
    """Build the app; `services` lets tests share an engine, otherwise the lifespan makes its own."""
    settings = settings or (services.settings if services else get_settings())
    storage = RunStorage.from_url(settings.storage_url, settings.data_dir)
    state: dict[str, Any] = {}
    if services is None:
        engine = make_engine(settings.database_url, pool_size=API_CONNECTIONS, max_overflow=0, pre_ping=False)
        services = AppServices(
            settings=settings, db=make_sessionmaker(engine), storage=storage, queue=JobQueue(settings.redis_url)
        )
        state["engine"] = engine
    if services.gate is None:
        services.gate = TokenGate(services.db, require=settings.require_auth)
    if services.socket_guard is None:
        services.socket_guard = SocketGuard(services.gate)
    if services.documents is None:
        services.documents = persisted.from_settings(settings)
    graphql_app = GraphQLApp(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owns_hub = services.hub is None
        if owns_hub:
            services.hub = EventHub(settings.sync_database_url, services.db)
        # Revocations anywhere (the CLI, another replica) reach this process's token cache on the hub's connection.
        services.hub.watch(TOKENS_CHANNEL, services.gate.heard, services.gate.forget)
        if owns_hub:
            await services.hub.start()
        services.socket_guard.start()
        try:
            yield
        finally:
            await services.socket_guard.stop()
            await services.documents.close()
            if owns_hub:
                await services.hub.stop()
                services.hub = None
            if "engine" in state:
                await services.queue.close()
                await state["engine"].dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with services.db() as session:
                await asyncio.wait_for(health.ping_database(session), timeout=3)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"unreachable: {exc.__class__.__name__}"
        redis_error = await redis_unreachable(settings.redis_url)
        checks["redis"] = "ok" if redis_error is None else f"unreachable: {redis_error.split(':')[0]}"
        storage_error = await services.storage.unreachable()
        checks["storage"] = "ok" if storage_error is None else f"unreachable: {storage_error.split(':')[0]}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    async def files(request: Request) -> Response:
        try:
            caller = await services.gate.caller(request.headers.get("authorization"))
        except AuthRequired as exc:
            return _unauthorized(str(exc))
        except AuthUnavailable as exc:
            return _unavailable(str(exc))
        relative = request.path_params["path"]
        storage = services.storage
        key = storage.public_key(relative)
        found = storage.resolve_public(relative) if storage.is_local else None
        if key is None or (storage.is_local and found is None) or not await _may_read(services, caller, relative):
            return PlainTextResponse("Not Found", status_code=404)
        media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        # Files are per-token: shared caches must not keep them, the browser may.
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
        if found is None or not media_type.startswith("image/"):
            # Bucket objects, and the JSON files that are rewritten in place (refinements.json), are sent
            # from one open version; write-once images go out as files (with ?w= thumbnails).
            streamed = await remote_files.object_response(request, storage.store, key, media_type, headers)
            return streamed or PlainTextResponse("Not Found", status_code=404)
        return await thumbnails.file_response(
            request, storage.runs_dir / Path(relative).parts[1], found, media_type, headers
        )

    async def metrics_page(request: Request) -> Response:
        authorization = request.headers.get("authorization") or ""
        if settings.metrics_token:
            if not hmac.compare_digest(authorization.encode(), f"Bearer {settings.metrics_token}".encode()):
                return _unauthorized("/metrics needs the metrics token (CHURNS_METRICS_TOKEN)")
        else:
            try:
                await services.gate.caller(authorization or None)
            except AuthRequired as exc:
                return _unauthorized(str(exc))
        return Response(await metrics.render(services), media_type=CONTENT_TYPE_LATEST)

    async def index(request: Request) -> Response:
        return HTMLResponse(_NO_WEB)

    routes: list[Any] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
        Mount("/api/v1", routes=rest_routes(services)),
        Route("/files/{path:path}", files, methods=["GET", "HEAD"]),
    ]
    if (settings.web_dir / "index.html").is_file():
        routes.append(Mount("/", StaticFiles(directory=settings.web_dir, html=True)))
    else:
        routes.append(Route("/", index))
    middleware = [Middleware(RequestId), Middleware(SecurityHeaders)]
    if settings.cors_origins:
        middleware.append(Middleware(PathCORS, origins=settings.cors_origins))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.services = services
    if tracing.tracing_requested():
        tracing.instrument_app(app)
    return app


def schema_sdl() -> str:
    """The served schema as SDL, exactly as schema.graphql holds it."""
    return build_schema().as_str() + "\n"
