"""The signed content of a session note and its SHA-256 digest.

Canonical form: the JSON object below, keys sorted, no insignificant white space
(separators "," and ":"), UTF-8 without escaping non-ASCII characters; UUIDs as lower-case
strings, timestamps as RFC 3339 UTC with `Z` exactly as the API returns them (fractional
seconds only when not zero), numbers as JSON numbers,
lists in their stored order, absent values as null.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

SIGNED_FIELDS = (
    "id",
    "client_id",
    "care_plan_id",
    "therapist_id",
    "scheduled_start",
    "duration_minutes",
    "status",
    "session_type",
    "body_regions",
    "regions_avoided",
    "techniques",
    "pressure",
    "soap",
    "health_update",
    "adverse_event",
    "home_care",
    "adjacent_appointment",
    "signed_at",
    "signed_by",
)


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def signed_content(session: Any) -> dict[str, Any]:
    content = {name: _plain(getattr(session, name)) for name in SIGNED_FIELDS}
    content["measurements"] = [
        {
            "goal_id": _plain(m.goal_id),
            "measure": m.measure,
            "value": m.value,
            "unit": m.unit,
            "timing": m.timing,
        }
        for m in session.measurements
    ]
    return content


def canonical_json(content: dict[str, Any]) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def content_sha256(session: Any) -> str:
    return hashlib.sha256(canonical_json(signed_content(session))).hexdigest()
