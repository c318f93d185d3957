"""The outbox (events), webhooks, their deliveries and every delivery attempt."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Archivable, Base, JSONType, Resource, utcnow

# SQLite numbers rows only through an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity
EventSeq = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One change of a resource, written in the transaction of the change.

    `seq` is the feed's order: commit order (see `app.events.outbox`). `id` is the event's public
    identity (also the `webhook-id` of every delivery of it)."""

    __tablename__ = "events"
    # AUTOINCREMENT on SQLite: a number is never reused, even after the newest rows are purged
    __table_args__ = (
        Index("ix_events_occurred_at", "occurred_at"),
        Index("ix_events_type_seq", "type", "seq"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(EventSeq, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID]
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class EventDispatch(Base):
    """Where the fan-out of events into webhook deliveries has got to (one row, id 1)."""

    __tablename__ = "event_dispatch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Webhook(Resource, Archivable):
    __tablename__ = "webhooks"

    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # failed deliveries in a row; at FAILURES_BEFORE_DISABLE the webhook turns inactive
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_webhooks_created_at_id", "created_at", "id"),)


class WebhookDelivery(Base):
    """One event to one webhook. `state`: pending → in_flight (leased) → succeeded | failed;
    an in-flight delivery whose lease ran out is due again (its worker died)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id", "webhook_id", "created_at", "id"),
        Index("uq_webhook_deliveries_webhook_event", "webhook_id", "event_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[dt.datetime]
    lease_until: Mapped[dt.datetime | None]
    lease_token: Mapped[uuid.UUID | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


# the tables, for the Core statements of bulk writes (event inserts, fan-out, purge)
EVENTS = cast(Table, Event.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
