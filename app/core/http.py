"""HTTP semantics every route shares: `HEAD` on every `GET` route, conditional `GET`
(`If-None-Match` → 304) and the security headers of every response."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import Forbidden, problem_response

STRICT_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""HTML the app serves (the printable reports) uses inline styles and SVG, and nothing else."""

_NOT_CLIENT_DATA = ("/v1/health",)
_CLIENT_DATA = ("/v1/", "/fhir/")
# headers a 304 keeps (RFC 9110 §15.4.5): the validators and what a 200 says about caching
_KEPT_ON_304 = frozenset(
    {"etag", "cache-control", "content-location", "date", "expires", "vary", "x-request-id"}
)


def carries_client_data(path: str) -> bool:
    """Every `/v1` and `/fhir` answer may carry a client's data, except the health checks."""
    return path.startswith(_CLIENT_DATA) and not path.startswith(_NOT_CLIENT_DATA)


def _etags(header: str) -> set[str]:
    """The entity tags of an `If-None-Match` header, compared weakly (RFC 9110 §13.1.2)."""
    tags = set()
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.add(tag)
    return tags


class HttpSemanticsMiddleware:
    """`HEAD` runs the `GET` route and sends its headers without the body; a `GET` whose
    `If-None-Match` names the current `ETag` gets 304 with that `ETag` and no body; every
    response gets `X-Content-Type-Options`, `Referrer-Policy`, a strict
    `Content-Security-Policy` when it is HTML, and `Cache-Control: no-store` when it may carry
    a client's data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        conditional = None
        if method in ("GET", "HEAD"):
            if_none_match = Headers(scope=scope).get("if-none-match")
            conditional = _etags(if_none_match) if if_none_match else None
        no_store = carries_client_data(scope["path"])
        state = {"drop_body": head}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if no_store:
                    headers["Cache-Control"] = "no-store"
                content_type = headers.get("content-type", "")
                if (
                    content_type.startswith("text/html")
                    and "content-security-policy" not in headers
                ):
                    headers["Content-Security-Policy"] = STRICT_CSP
                current = headers.get("etag")
                if (
                    conditional
                    and message["status"] == 200
                    and current
                    and ("*" in conditional or current.removeprefix("W/") in conditional)
                ):
                    state["drop_body"] = True
                    message["status"] = 304
                    message["headers"] = [
                        (name, value)
                        for name, value in message["headers"]
                        if name.decode("latin-1").lower() in _KEPT_ON_304
                        or name.lower() in (b"x-content-type-options", b"referrer-policy")
                    ]
            elif message["type"] == "http.response.body" and state["drop_body"]:
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClinicCorsMiddleware(CORSMiddleware):
    """CORS for the origins listed in `CAREPLAN_CORS_ORIGINS` only. A preflight that is not
    allowed (origin, method or header) gets a 403 problem with no CORS header at all."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "X-Request-ID", "Retry-After"],
            max_age=600,
        )

    async def simple_response(
        self, scope: Scope, receive: Receive, send: Send, request_headers: Headers
    ) -> None:
        origin = request_headers.get("origin")
        if origin is None or not self.is_allowed_origin(origin=origin):
            await self.app(scope, receive, send)  # not even Access-Control-Expose-Headers
            return
        await super().simple_response(scope, receive, send, request_headers)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = problem_response(Forbidden("This cross-origin request is not allowed"))
        refused.headers["Vary"] = "Origin"
        return refused
