"""`/v1/events` (the feed) and `/v1/webhooks` (subscriptions and their delivery log): admin."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import AdminCaller, actor
from app.core.concurrency import ExpectedVersion
from app.core.db import utcnow
from app.core.errors import ValidationFailed, problems
from app.core.fields import CursorText, SingleLine
from app.core.pagination import Page, PageOf, page_of
from app.core.responses import no_content, render
from app.core.routing import DbSession, TransactionalRoute
from app.events import service
from app.events.models import Webhook, WebhookAttempt, WebhookDelivery
from app.events.schemas import (
    AttemptRead,
    DeliveryRead,
    EventPage,
    EventRead,
    EventType,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

WEBHOOK = "webhook"


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.allows_private_webhooks)


def _event_types(types: str | None) -> list[str]:
    if types is None:
        return []
    wanted = [t.strip() for t in types.split(",") if t.strip()]
    known = {t.value for t in EventType}
    unknown = [t for t in wanted if t not in known]
    if unknown or not wanted:
        raise ValidationFailed.field(
            ["query", "types"],
            f"unknown event type(s): {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(sorted(known))}",
        )
    return wanted


@router.get(
    "/events",
    response_model=EventPage,
    tags=["events"],
    responses=problems(410),
    summary="The events feed, in commit order: follow `next_cursor` as `after`",
)
async def read_events(
    request: Request,
    db: DbSession,
    caller: AdminCaller,
    after: Annotated[
        CursorText | None,
        Query(description="`next_cursor` of the previous page; none: the start"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")] = 50,
    types: Annotated[
        Annotated[str, SingleLine] | None,
        Query(
            max_length=1000,
            description="Comma-separated event types to keep, e.g. `session.signed,client.created`",
        ),
    ] = None,
) -> Response:
    events, cursor = await service.read_feed(
        db,
        after,
        limit,
        _event_types(types),
        request.app.state.settings.event_retention_days,
        utcnow(),
    )
    body = EventPage(
        items=[EventRead.model_validate(e, from_attributes=True) for e in events],
        next_cursor=cursor,
    )
    return render(body, caller, headers={"Cache-Control": "no-store"})


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    tags=["webhooks"],
    summary="Subscribe a URL to events; the response shows the signing secret, this once",
)
async def create_webhook(
    request: Request, data: WebhookCreate, db: DbSession, caller: AdminCaller
) -> Response:
    webhook = await service.create_webhook(db, data, _allow_private(request))
    audit.record(db, actor(caller), AuditAction.create, WEBHOOK, webhook.id)
    body = WebhookCreated.model_validate(
        {**WebhookRead.model_validate(webhook).model_dump(), "secret": webhook.secret}
    )
    return render(
        body,
        caller,
        status_code=201,
        version=webhook.version,
        headers={"Location": f"/v1/webhooks/{webhook.id}", "Cache-Control": "no-store"},
    )


@router.get("/webhooks", response_model=PageOf[WebhookRead], tags=["webhooks"])
async def list_webhooks(db: DbSession, caller: AdminCaller, page: Page) -> Response:
    webhooks, cursor = page_of(await service.list_webhooks(db, page), page)
    items = [WebhookRead.model_validate(w) for w in webhooks]
    return render(PageOf[WebhookRead](items=items, next_cursor=cursor), caller)


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead, tags=["webhooks"])
async def get_webhook(webhook_id: uuid.UUID, db: DbSession, caller: AdminCaller) -> Response:
    webhook = await service.get_webhook(db, webhook_id)
    return render(WebhookRead.model_validate(webhook), caller, version=webhook.version)


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookRead,
    tags=["webhooks"],
    responses=problems(412, 428),
    summary="Change the URL, the event types, or switch the webhook on or off",
)
async def update_webhook(
    request: Request,
    webhook_id: uuid.UUID,
    patch: WebhookUpdate,
    db: DbSession,
    caller: AdminCaller,
    expected: ExpectedVersion,
) -> Response:
    webhook = await service.get_webhook(db, webhook_id)
    webhook = await service.update_webhook(db, webhook, patch, expected, _allow_private(request))
    audit.record(db, actor(caller), AuditAction.update, WEBHOOK, webhook.id)
    return render(WebhookRead.model_validate(webhook), caller, version=webhook.version)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    tags=["webhooks"],
    summary="Delete a webhook (soft: nothing more is sent to it; its log is kept)",
)
async def archive_webhook(webhook_id: uuid.UUID, db: DbSession, caller: AdminCaller) -> Response:
    await service.archive_webhook(db, await service.get_webhook(db, webhook_id))
    audit.record(db, actor(caller), AuditAction.delete, WEBHOOK, webhook_id)
    return no_content()


def _delivery(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryRead:
    waiting = delivery.state in ("pending", "in_flight")
    return DeliveryRead(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        state=delivery.state,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at if waiting else None,
        last_status_code=delivery.last_status_code,
        created_at=delivery.created_at,
        completed_at=delivery.completed_at,
        attempts=[AttemptRead.model_validate(a) for a in attempts],
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=PageOf[DeliveryRead],
    tags=["webhooks"],
    summary="The delivery log: each event sent to this webhook, with every attempt",
)
async def list_deliveries(
    webhook_id: uuid.UUID, db: DbSession, caller: AdminCaller, page: Page
) -> Response:
    webhook: Webhook = await service.get_webhook(db, webhook_id)
    deliveries, attempts = await service.list_deliveries(db, webhook, page)
    rows, cursor = page_of(deliveries, page)
    items = [_delivery(d, attempts.get(d.id, [])) for d in rows]
    return render(PageOf[DeliveryRead](items=items, next_cursor=cursor), caller)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryRead,
    status_code=202,
    tags=["webhooks"],
    responses=problems(409),
    summary="Send a delivery once more, now (the worker picks it up within a second or so)",
)
async def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession, caller: AdminCaller
) -> Response:
    webhook = await service.get_webhook(db, webhook_id)
    delivery = await service.retry_delivery(db, webhook, delivery_id, utcnow())
    audit.record(db, actor(caller), AuditAction.update, "webhook_delivery", delivery.id)
    attempts = await service.attempts_of(db, [delivery.id])
    return render(_delivery(delivery, attempts[delivery.id]), caller, status_code=202)
