"""Per-request context that logs and audit events carry: the request id, the caller's address,
the method and the path."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    request_id: str
    ip: str | None
    method: str
    path: str


request_info_var: ContextVar[RequestInfo | None] = ContextVar("request_info", default=None)


def current_request_id() -> str | None:
    info = request_info_var.get()
    return info.request_id if info else None
