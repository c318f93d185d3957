"""RFC 9457 problem details: error classes, mapped to responses in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

logger = logging.getLogger("careplan.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemDetailError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["/problems/not-found"])
    title: str
    status: int
    detail: str
    errors: list[ProblemDetailError] | None = None


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class ValidationFailed(AppError):
    status = 422
    slug = "validation-error"
    title = "Validation error"

    def __init__(self, detail: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(detail, errors=list(errors))

    @classmethod
    def field(cls, loc: Sequence[str | int], msg: str) -> ValidationFailed:
        return cls(msg, [{"loc": list(loc), "msg": msg}])


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "A valid bearer token is required")
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Hidden(NotFound):
    """A row the caller may not see: answered exactly like a missing one, but audited as denied."""


class MethodNotAllowed(AppError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidTransition(AppError):
    status = 409
    slug = "invalid-transition"
    title = "Invalid status transition"


class ClientUnavailable(AppError):
    """The client already has a non-cancelled session overlapping the proposed time."""

    status = 409
    slug = "client-unavailable"
    title = "Client unavailable"


class ConsentRequired(AppError):
    """The step needs a consent the client does not hold (e.g. an active `treatment` consent)."""

    status = 409
    slug = "consent-required"
    title = "Consent required"


class PreconditionFailed(AppError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(AppError):
    status = 428
    slug = "precondition-required"
    title = "Precondition required"


class CursorExpired(AppError):
    status = 410
    slug = "cursor-expired"
    title = "Cursor expired"


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class NotAcceptable(AppError):
    status = 406
    slug = "not-acceptable"
    title = "Not acceptable"


class RateLimited(AppError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(AppError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


class InternalError(AppError):
    pass


def problem_response(error: AppError) -> Response:
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


ErrorRenderer = Callable[[AppError], Response]


def error_response(error: AppError, scope: Mapping[str, Any]) -> Response:
    """The error in the format its path speaks: problem+json, unless the app names another
    renderer for a prefix of the path in `app.state.error_renderers` (e.g. FHIR's
    OperationOutcome under `/fhir/R4`)."""
    state = getattr(scope.get("app"), "state", None)
    renderers: Mapping[str, ErrorRenderer] = getattr(state, "error_renderers", None) or {}
    path = str(scope.get("path", ""))
    for prefix, render in renderers.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return render(error)
    return problem_response(error)


_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def _loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_problem(errors: Sequence[Any]) -> ValidationFailed:
    items = []
    for err in errors:
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "this field is unknown or may not be set by the caller"
        items.append({"loc": _loc(err.get("loc", ())), "msg": msg})
    return ValidationFailed("The request is not valid", items)


def to_app_error(exc: BaseException) -> AppError:
    """Every exception the request path can raise, as the problem it means for the caller."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, RequestValidationError):
        return validation_problem(exc.errors())
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): a body that
            # does not parse is 422, like JSON that does not
            return ValidationFailed.field(["body"], f"the body could not be read: {exc.detail}")
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if cls is not None:
            error = cls()
            if exc.status_code == 413:
                error.detail = str(exc.detail)
            elif exc.status_code == 405:
                error.detail = "This method is not allowed on this path"
            elif exc.status_code == 404:
                error.detail = "No such resource"
            # e.g. the `Allow` header a 405 must carry (RFC 9110 §15.5.6)
            error.headers.update(exc.headers or {})
            return error
        generic = AppError(str(exc.detail))
        generic.status, generic.slug, generic.title = exc.status_code, "http-error", "HTTP error"
        return generic
    if isinstance(exc, StaleDataError):
        return PreconditionFailed("The resource was changed by someone else; fetch it again")
    if isinstance(exc, IntegrityError):
        return Conflict("The change conflicts with existing data")
    return InternalError("An unexpected error occurred; quote the X-Request-ID when reporting it")


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves on this path: the router names only the first route's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


async def _handle(request: Request, exc: Exception) -> Response:
    error = to_app_error(exc)
    if isinstance(error, MethodNotAllowed) and (methods := _allowed_methods(request)):
        error.headers["Allow"] = ", ".join(sorted(methods))
    if isinstance(error, InternalError):
        logger.exception("unhandled error", exc_info=exc)
    on_error = getattr(request.app.state, "on_error", None)
    if on_error is not None:
        await on_error(request, error)
    return error_response(error, request.scope)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _handle)
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": desc}
    for status, desc in {
        401: "Missing or invalid bearer token",
        403: "The caller's role may not do this",
        404: "No such resource, or one the caller may not see",
        422: "Validation error",
    }.items()
}


def problems(
    *statuses: int, conflicts: Sequence[type[AppError]] = ()
) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the problem documents a route can answer with; `conflicts`
    names the 409 problems a route can answer with, listed by slug in its description."""
    out = dict(PROBLEM_RESPONSES)
    descriptions = {
        409: "Conflict",
        410: "Cursor older than the retention period",
        412: "Stale If-Match",
        413: "Body over 1 MiB",
        428: "If-Match missing",
    }
    for status in statuses:
        out[status] = {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": descriptions.get(status, "Problem"),
        }
    if conflicts:
        listed = "; ".join(
            f"`/problems/{error.slug}`: {(error.__doc__ or error.title).rstrip('.')}"
            for error in conflicts
        )
        out[409] = {**out.get(409, {}), "description": f"Conflict. {listed}"}
        out[409].setdefault("model", Problem)
        out[409].setdefault("content", {PROBLEM_MEDIA_TYPE: {}})
    return out
