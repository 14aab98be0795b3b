"""CORS for /graphql and /files only, from CHURNS_CORS_ORIGINS, through Starlette's CORSMiddleware."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CORS_PATHS = ("/graphql", "/files/")
# Requests carry a bearer token, never cookies: no credentials mode. The preflight-forcing headers
# (CSRF guard for uploads) must be allowed, or a listed origin could not upload at all.
ALLOWED_HEADERS = [
    "authorization",
    "content-type",
    "accept",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-requested-with",
    "graphql-preflight",
]


class PathCORS:
    """Starlette's CORSMiddleware for the API's paths; other paths (the web client, probes) get no CORS headers."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "HEAD"],
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route API paths through CORS, the rest straight to the app."""
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/graphql" or path.startswith(CORS_PATHS[1])):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
