"""The Starlette application: /graphql (HTTP and websockets), /files, /healthz, /readyz and the web client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
from typing import Any, AsyncIterator

from redis.asyncio import Redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from churns_gql.config import Settings, get_settings
from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.events import EventHub
from churns_gql.graphql.context import AppServices, Context
from churns_gql.graphql.schema import schema
from churns_gql.jobs import JobQueue
from churns_gql.storage import RunStorage

log = logging.getLogger("churns_gql.app")

# A multipart POST is a "simple" request browsers send cross-site without a preflight; requiring one of
# these headers forces a preflight, which is how Apollo Server guards uploads against CSRF.
_PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "x-requested-with", "graphql-preflight")
_SIMPLE_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded", "text/plain")


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our context and a CSRF guard on simple requests."""

    def __init__(self, services: AppServices) -> None:
        super().__init__(schema, graphql_ide="graphiql", multipart_uploads_enabled=True)
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse simple cross-site-capable POSTs that carry no preflight-forcing header."""
        if scope["type"] == "http" and scope.get("method") == "POST":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in _SIMPLE_CONTENT_TYPES and not any(h in headers for h in _PREFLIGHT_HEADERS):
                response = PlainTextResponse(
                    "This request needs a non-simple header such as 'Apollo-Require-Preflight: true' "
                    "(CSRF protection for multipart uploads).",
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """A fresh context (and fresh DataLoaders) per request or websocket connection."""
        return Context(services=self.services, request=request, response=response)


_NO_WEB = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>churns-gql</title></head>
<body><main><h1>churns-gql</h1><p>The API is running. Explore it in <a href="/graphql">GraphiQL</a>.</p>
<p>The web client is served here once it is built (<code>web/dist</code>).</p></main></body></html>"""


def create_app(settings: Settings | None = None, *, services: AppServices | None = None) -> Starlette:
    """Build the app; `services` lets tests share an engine, otherwise the lifespan makes its own."""
    settings = settings or (services.settings if services else get_settings())
    storage = RunStorage(settings.data_dir)
    state: dict[str, Any] = {}
    if services is None:
        engine = make_engine(settings.database_url)
        services = AppServices(settings=settings, db=make_sessionmaker(engine), storage=storage,
                               queue=JobQueue(settings.redis_url))
        state["engine"] = engine
    graphql_app = GraphQLApp(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owns_hub = services.hub is None
        if owns_hub:
            services.hub = EventHub(settings.sync_database_url, services.db)
            await services.hub.start()
        try:
            yield
        finally:
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
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=3)
            checks["postgres"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
            checks["postgres"] = f"unreachable: {exc.__class__.__name__}"
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
        try:
            await asyncio.wait_for(redis.ping(), timeout=3)
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"unreachable: {exc.__class__.__name__}"
        finally:
            await redis.aclose()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    async def files(request: Request) -> Response:
        found = services.storage.resolve_public(request.path_params["path"])
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})

    async def index(request: Request) -> Response:
        return HTMLResponse(_NO_WEB)

    routes: list[Any] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/files/{path:path}", files, methods=["GET", "HEAD"]),
    ]
    if (settings.web_dir / "index.html").is_file():
        routes.append(Mount("/", StaticFiles(directory=settings.web_dir, html=True)))
    else:
        routes.append(Route("/", index))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app
