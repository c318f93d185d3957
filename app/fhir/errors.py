"""Errors under `/fhir/R4` are FHIR `OperationOutcome`s in `application/fhir+json`, never
problem+json: FHIR clients read the issue, not an RFC 9457 document. The same `AppError`s are
raised as everywhere else; only their rendering differs (see `app.core.errors.error_response`)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from app.core.errors import AppError
from app.fhir.mapping import FHIR_MEDIA_TYPE, FhirResource, prune

PREFIX = "/fhir/R4"

# the issue-type code (R4 value set `issue-type`) of each HTTP status we answer with
ISSUE_TYPES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    428: "required",
    429: "throttled",
    503: "transient",
}


class BadRequest(AppError):
    """A search FHIR cannot answer as asked: an unknown or malformed parameter (FHIR's 400)."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


def operation_outcome(error: AppError) -> FhirResource:
    severity = "fatal" if error.status >= 500 else "error"
    code = ISSUE_TYPES.get(error.status, "exception")
    issues: list[dict[str, Any]] = []
    for item in error.extra.get("errors") or []:
        where = ".".join(str(part) for part in item.get("loc", []))
        issues.append(
            {
                "severity": severity,
                "code": code,
                "details": {"text": error.title},
                "diagnostics": f"{where}: {item.get('msg', '')}" if where else item.get("msg"),
            }
        )
    if not issues:
        issues.append(
            {
                "severity": severity,
                "code": code,
                "details": {"text": error.title},
                "diagnostics": error.detail,
            }
        )
    outcome: FhirResource = prune({"resourceType": "OperationOutcome", "issue": issues})
    return outcome


def operation_outcome_response(error: AppError) -> Response:
    return Response(
        orjson.dumps(operation_outcome(error)),
        status_code=error.status,
        media_type=FHIR_MEDIA_TYPE,
        headers=error.headers,
    )
