"""The events feed, webhooks and the delivery state machine (the worker's database steps)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import random
import secrets
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import crud
from app.core.concurrency import check_version
from app.core.errors import Conflict, CursorExpired, NotFound, ValidationFailed
from app.core.pagination import PageParams, paginate
from app.events.models import (
    DELIVERIES,
    EVENTS,
    Event,
    EventDispatch,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from app.events.schemas import SECRET_PREFIX, EventRead, WebhookCreate, WebhookUpdate

DISPATCH_ROW = 1
FAILURES_BEFORE_DISABLE = 5
DELIVERY_WINDOW = dt.timedelta(days=3)
RETRY_CAP = dt.timedelta(hours=6)
GENERATED_SECRET_BYTES = 32

# ---- the feed ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a reader is: after event `seq`, as of `read_at` (when it last read the feed)."""

    seq: int
    read_at: dt.datetime


def encode_feed_cursor(position: FeedPosition) -> str:
    raw = orjson.dumps(["e1", position.seq, int(position.read_at.timestamp())])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_feed_cursor(cursor: str) -> FeedPosition:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        tag, seq, read_at = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if tag != "e1" or type(seq) is not int or type(read_at) is not int or seq < 0:
            raise ValueError("not a feed cursor")
        return FeedPosition(seq, dt.datetime.fromtimestamp(read_at, dt.UTC))
    except (ValueError, TypeError, OverflowError, OSError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed.field(["query", "after"], "not a cursor from this feed") from exc


async def read_feed(
    db: AsyncSession,
    after: str | None,
    limit: int,
    types: Sequence[str],
    retention_days: int,
    now: dt.datetime,
) -> tuple[list[Event], str]:
    """Events after the cursor, in commit order (`seq`, see `app.events.outbox`).

    A cursor remembers when its reader last read; events older than the retention period are
    purged, so a reader that has not read for longer may have missed some: 410, resynchronise.
    """
    position = decode_feed_cursor(after) if after else FeedPosition(0, now)
    if position.read_at < now - dt.timedelta(days=retention_days):
        raise CursorExpired(
            f"The cursor is older than the {retention_days}-day retention period: events after "
            "it may have been purged. Resynchronise, then read the feed from the start."
        )
    stmt = select(Event).where(Event.seq > position.seq)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    events = list((await db.scalars(stmt.order_by(Event.seq).limit(limit))).all())
    last = events[-1].seq if events else position.seq
    return events, encode_feed_cursor(FeedPosition(last, now))


async def purge_events(db: AsyncSession, retention_days: int, now: dt.datetime) -> int:
    """Deletes events past retention; their deliveries and attempts go with them (cascade)."""
    result = await db.execute(
        delete(EVENTS).where(EVENTS.c.occurred_at < now - dt.timedelta(days=retention_days))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---- webhooks ----------------------------------------------------------------------------------


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_SECRET_BYTES)).decode()


class UnsafeWebhookUrl(ValueError):
    """A URL the service may not call: not http(s), or (in production) not https or on an
    address of the machine's own networks."""


def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_webhook_url(url: str, allow_private: bool) -> None:
    """Raises `UnsafeWebhookUrl`. With `allow_private` off (production) the URL must be https
    and every address its host resolves to must be public: no loopback, private, link-local."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl("not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("the URL must be http(s)://host/…")
    if allow_private:
        return
    if parts.scheme != "https":
        raise UnsafeWebhookUrl("webhook URLs must use https")
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port or 443, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise UnsafeWebhookUrl(f"the host {host!r} does not resolve") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses or any(_forbidden_address(a) for a in addresses):
        raise UnsafeWebhookUrl(
            "the URL resolves to a loopback, private or link-local address, which webhooks may "
            "not call"
        )


async def _checked_url(url: str, allow_private: bool) -> str:
    try:
        await check_webhook_url(url, allow_private)
    except UnsafeWebhookUrl as error:
        raise ValidationFailed.field(["body", "url"], str(error)) from error
    return url


async def create_webhook(db: AsyncSession, data: WebhookCreate, allow_private: bool) -> Webhook:
    webhook = Webhook(
        url=await _checked_url(data.url, allow_private),
        event_types=[t.value for t in data.event_types],
        secret=data.secret or generate_secret(),
        active=True,
        consecutive_failures=0,
    )
    db.add(webhook)
    await db.flush()
    return webhook


async def get_webhook(db: AsyncSession, webhook_id: uuid.UUID) -> Webhook:
    return await crud.get_or_404(db, Webhook, webhook_id, what="webhook")


async def list_webhooks(db: AsyncSession, page: PageParams) -> list[Webhook]:
    return await crud.list_page(db, Webhook, page)


async def update_webhook(
    db: AsyncSession,
    webhook: Webhook,
    patch: WebhookUpdate,
    expected_version: int,
    allow_private: bool,
) -> Webhook:
    check_version(webhook.version, expected_version)
    changes = patch.changes()
    if "url" in changes:
        await _checked_url(changes["url"], allow_private)
    if changes.get("active") is True and not webhook.active:
        webhook.consecutive_failures = 0  # switched on again: a fresh start
    return await crud.patch(db, webhook, changes, expected_version)


async def archive_webhook(db: AsyncSession, webhook: Webhook) -> None:
    await crud.archive(db, webhook)


# ---- deliveries as the API shows them ----------------------------------------------------------


async def list_deliveries(
    db: AsyncSession, webhook: Webhook, page: PageParams
) -> tuple[list[WebhookDelivery], dict[uuid.UUID, list[WebhookAttempt]]]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    deliveries = list((await db.scalars(paginate(stmt, WebhookDelivery, page))).all())
    return deliveries, await attempts_of(db, [d.id for d in deliveries[: page.limit]])


async def attempts_of(
    db: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    out: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        rows = await db.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(WebhookAttempt.at, WebhookAttempt.id)
        )
        for attempt in rows:
            out[attempt.delivery_id].append(attempt)
    return out


async def retry_delivery(
    db: AsyncSession, webhook: Webhook, delivery_id: uuid.UUID, now: dt.datetime
) -> WebhookDelivery:
    """Sends the event once more, now, whatever became of it: one attempt (no further retries
    unless the delivery window is still open)."""
    delivery = await db.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook.id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound("No such delivery of this webhook")
    if delivery.state == "in_flight" and delivery.lease_until and delivery.lease_until > now:
        raise Conflict("The delivery is being sent right now")
    delivery.state = "pending"
    delivery.next_attempt_at = now
    delivery.deadline_at = max(delivery.deadline_at, now)
    delivery.completed_at = None
    delivery.lease_until = None
    delivery.lease_token = None
    await db.flush()
    return delivery


# ---- the delivery worker's steps ---------------------------------------------------------------


async def fan_out(db: AsyncSession, now: dt.datetime, batch: int = 500) -> int:
    """Turns new events into deliveries for the active webhooks that want them.

    Walks the feed (commit order, never skipping) from where the last fan-out stopped; the
    dispatch row is locked, so one worker at a time does it (others skip it, SKIP LOCKED).
    A webhook gets the events that happened after it was created."""
    dispatch = await db.scalar(
        select(EventDispatch)
        .where(EventDispatch.id == DISPATCH_ROW)
        .with_for_update(skip_locked=True)
    )
    if dispatch is None:
        return 0
    events = (
        await db.execute(
            select(Event.id, Event.seq, Event.type, Event.occurred_at)
            .where(Event.seq > dispatch.last_seq)
            .order_by(Event.seq)
            .limit(batch)
        )
    ).all()
    if not events:
        return 0
    webhooks = (
        await db.scalars(
            select(Webhook).where(Webhook.active.is_(True), Webhook.archived_at.is_(None))
        )
    ).all()
    rows = [
        {
            "id": uuid.uuid4(),
            "webhook_id": hook.id,
            "event_id": event.id,
            "event_type": event.type,
            "state": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "deadline_at": now + DELIVERY_WINDOW,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
        for hook in webhooks
        if event.type in hook.event_types and event.occurred_at >= hook.created_at
    ]
    if rows:
        await db.execute(insert(DELIVERIES), rows)
    dispatch.last_seq = events[-1].seq
    await db.flush()
    return len(rows)


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery: what to send, and the lease token that proves the claim."""

    delivery_id: uuid.UUID
    token: uuid.UUID
    url: str
    secret: str
    event_id: uuid.UUID
    body: bytes


async def claim_due(
    db: AsyncSession, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[Job]:
    """Claims due deliveries: pending ones whose time has come, and in-flight ones whose lease
    ran out (their worker died). `FOR UPDATE SKIP LOCKED` on PostgreSQL: concurrent workers
    claim disjoint sets; SQLite's write lock serialises the claims. The claim commits before
    anything is sent, so the state is in the database whatever happens to this worker."""
    due = or_(
        and_(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.state == "in_flight", WebhookDelivery.lease_until < now),
    )
    deliveries = (
        await db.scalars(
            select(WebhookDelivery)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(due, Webhook.active.is_(True), Webhook.archived_at.is_(None))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
    ).all()
    if not deliveries:
        return []
    events = {
        e.id: e
        for e in await db.scalars(
            select(Event).where(Event.id.in_([d.event_id for d in deliveries]))
        )
    }
    webhooks = {
        w.id: w
        for w in await db.scalars(
            select(Webhook).where(Webhook.id.in_({d.webhook_id for d in deliveries}))
        )
    }
    jobs = []
    for delivery in deliveries:
        delivery.state = "in_flight"
        delivery.lease_until = now + lease
        delivery.lease_token = uuid.uuid4()
        delivery.attempt_count += 1
        webhook = webhooks[delivery.webhook_id]
        event = events[delivery.event_id]
        jobs.append(
            Job(
                delivery.id,
                delivery.lease_token,
                webhook.url,
                webhook.secret,
                event.id,
                orjson.dumps(
                    EventRead.model_validate(event, from_attributes=True).model_dump(mode="json")
                ),
            )
        )
    await db.flush()
    return jobs


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int, base: float, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): base × 2^(attempt−1), capped at
    six hours, times a random factor in [0.5, 1) so that many failed deliveries spread out."""
    exponential = min(base * 2 ** min(attempt - 1, 40), RETRY_CAP.total_seconds())
    factor = 0.5 + (rng or random).random() / 2
    return dt.timedelta(seconds=exponential * factor)


async def record_attempt(
    db: AsyncSession, job: Job, outcome: Outcome, now: dt.datetime, retry_base: float
) -> None:
    """Logs the attempt and moves the delivery on: succeeded; pending again after a backoff;
    or failed once the delivery window is over — and the fifth failed delivery in a row turns
    the webhook off. A worker whose lease was taken over only logs its attempt."""
    delivery = await db.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == job.delivery_id).with_for_update()
    )
    if delivery is None:  # its event was purged meanwhile
        return
    db.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    if delivery.lease_token != job.token:
        await db.flush()
        return
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_status_code = outcome.status_code
    hooks = update(Webhook).where(Webhook.id == delivery.webhook_id)
    if outcome.succeeded:
        delivery.state = "succeeded"
        delivery.completed_at = now
        await db.execute(
            hooks.where(Webhook.consecutive_failures != 0)
            .values(consecutive_failures=0)
            .execution_options(synchronize_session=False)
        )
    else:
        retry_at = now + backoff(delivery.attempt_count, retry_base)
        if retry_at <= delivery.deadline_at:
            delivery.state = "pending"
            delivery.next_attempt_at = retry_at
        else:
            delivery.state = "failed"
            delivery.completed_at = now
            await db.execute(
                hooks.values(
                    consecutive_failures=Webhook.consecutive_failures + 1
                ).execution_options(synchronize_session=False)
            )
            await db.execute(
                hooks.where(
                    Webhook.consecutive_failures >= FAILURES_BEFORE_DISABLE,
                    Webhook.active.is_(True),
                )
                .values(active=False, version=Webhook.version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    await db.flush()


# ---- signatures --------------------------------------------------------------------------------


def signature_headers(
    secret: str, event_id: uuid.UUID, body: bytes, timestamp: int
) -> dict[str, str]:
    """Both signature forms of one delivery.

    `Careplan-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed by the secret's
    UTF-8 bytes; and Standard Webhooks' `webhook-id`, `webhook-timestamp` and
    `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<t>.<body>">`, keyed by the bytes the
    secret's base64 part encodes."""
    careplan = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    standard = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "Careplan-Signature": f"t={timestamp},v1={careplan.hexdigest()}",
        "webhook-id": str(event_id),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(standard.digest()).decode(),
    }
