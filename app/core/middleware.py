"""The one ASGI middleware every request passes: request id, body limit, last-resort errors,
access log and metrics."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import IPNetwork, RequestInfo, client_address, request_info_var
from app.core.errors import InternalError, PayloadTooLarge, error_response
from app.core.ids import random_id
from app.core.observability import Metrics

MAX_BODY_BYTES = 1024 * 1024
_TOO_LARGE = f"Request bodies are limited to {MAX_BODY_BYTES} bytes"
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_logger = logging.getLogger("careplan.access")
error_logger = logging.getLogger("careplan.errors")


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so the framework passes it through."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=_TOO_LARGE)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        access_log: bool = True,
        trusted_proxies: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or random_id().hex
        client = scope.get("client")
        client_ip = client_address(
            client[0] if client else None, _forwarded_for(scope), self.trusted_proxies
        )
        info_token = request_info_var.set(
            RequestInfo(request_id, client_ip, scope["method"], scope["path"])
        )
        state: dict[str, Any] = {"status": 500, "started": False}
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > MAX_BODY_BYTES:
                await _send_problem(PayloadTooLarge(_TOO_LARGE), scope, receive, send_with_id)
                return
            received = 0
            buffered: list[Message] = []
            if declared is None and scope["method"] not in _NO_BODY_METHODS:
                # a body without Content-Length (chunked) is measured before the app runs, so
                # a route that never reads its body still answers 413 to one over the limit
                while True:
                    message = await receive()
                    buffered.append(message)
                    if message["type"] != "http.request":
                        break
                    received += len(message.get("body", b""))
                    if received > MAX_BODY_BYTES:
                        await _send_problem(
                            PayloadTooLarge(_TOO_LARGE), scope, receive, send_with_id
                        )
                        return
                    if not message.get("more_body", False):
                        break

            async def limited_receive() -> Message:
                nonlocal received
                if buffered:
                    return buffered.pop(0)
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > MAX_BODY_BYTES:
                        raise _BodyTooLarge
                return message

            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not state["started"]:
                await _send_problem(PayloadTooLarge(_TOO_LARGE), scope, receive, send_with_id)
        except Exception:
            error_logger.exception("unhandled error")
            if not state["started"]:
                await _send_problem(
                    InternalError("An unexpected error occurred; quote the X-Request-ID"),
                    scope,
                    receive,
                    send_with_id,
                )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.count(method, route, str(state["status"]), elapsed)
            if self.access_log:
                access_logger.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": state["status"],
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_ip": client_ip,
                    },
                )
            request_info_var.reset(info_token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_RE.match(text) else None
    return None


def _forwarded_for(scope: Scope) -> list[str]:
    headers = scope["headers"]
    return [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def _send_problem(error: Any, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(error, scope)
    await response(scope, receive, send)
