from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.concurrency import MergePatch
from app.core.fields import SingleLine, StrictBool
from app.core.responses import ReadModel

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64


class EventType(StrEnum):
    """What changed (CONTRACT §8)."""

    client_created = "client.created"
    client_updated = "client.updated"
    referral_created = "referral.created"
    referral_updated = "referral.updated"
    care_plan_created = "care_plan.created"
    care_plan_status_changed = "care_plan.status_changed"
    goal_updated = "goal.updated"
    session_created = "session.created"
    session_updated = "session.updated"
    session_completed = "session.completed"
    session_signed = "session.signed"
    session_addendum_added = "session.addendum_added"


class EventRead(BaseModel):
    """One event: also the exact body POSTed to a webhook."""

    id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    resource_type: str
    resource_id: uuid.UUID
    data: dict[str, Any] = Field(description="The resource as an admin reads it after the change")


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str = Field(
        description="Pass as `after` to read on; returned even when the page is empty, so a "
        "poller keeps its place"
    )


def _check_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a secret starts with {SECRET_PREFIX!r}")
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("after the prefix, a secret is standard base64") from exc
    if not SECRET_MIN_BYTES <= len(raw) <= SECRET_MAX_BYTES:
        raise ValueError(
            f"a secret encodes {SECRET_MIN_BYTES}–{SECRET_MAX_BYTES} random bytes, not {len(raw)}"
        )
    return secret


WebhookSecret = Annotated[
    str,
    Field(max_length=200, description="`whsec_` + base64 of 24–64 random bytes"),
    AfterValidator(_check_secret),
]
WebhookUrl = Annotated[
    str,
    SingleLine,
    Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL; in production https only and never a loopback, private or "
        "link-local address",
        examples=["https://integrations.example.com/careplan"],
    ),
]


def _unique_types(types: list[EventType]) -> list[EventType]:
    return list(dict.fromkeys(types))


EventTypes = Annotated[
    list[EventType], Field(min_length=1, max_length=50), AfterValidator(_unique_types)
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    event_types: EventTypes
    secret: WebhookSecret | None = Field(default=None, description="Generated when not given")


class WebhookUpdate(MergePatch):
    not_null = frozenset({"url", "event_types", "active"})

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    active: StrictBool | None = None


class WebhookRead(ReadModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    active: bool
    consecutive_failures: int = Field(
        description="Failed deliveries in a row; at 5 the webhook turns inactive"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Shown in this response only: keep it with the receiver")


class AttemptRead(ReadModel):
    at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryRead(ReadModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    state: Literal["pending", "in_flight", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    attempts: list[AttemptRead]
