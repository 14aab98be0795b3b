"""Security headers on every HTTP response: a Content-Security-Policy with frame-ancestors, and Referrer-Policy."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The web client is built to static files of its own origin; images may be blob: (mask editor, previews).
APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The web build's explorer (web/graphiql.html) bundles GraphiQL: nothing leaves the origin, no inline
# script; its stylesheet embeds fonts as data: URLs.
LOCAL_GRAPHIQL_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Without the web build, Strawberry's GraphiQL page runs an inline bootstrap script and loads its assets
# (pinned, with SRI) from unpkg.
GRAPHIQL_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: blob: https://unpkg.com; "
    "font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI middleware adding CSP, frame-ancestors (no framing: clickjacking) and Referrer-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, adding the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = GRAPHIQL_POLICY if scope.get("path", "").rstrip("/") == "/graphql" else APP_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
