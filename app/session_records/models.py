from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Archivable, Base, JSONType, Resource, utcnow
from app.events.outbox import Change, Emits, read_as
from app.session_records.schemas import SessionRead

# a session is read with its measurements and addenda, as the API returns it
read_sessions = read_as(SessionRead.of, "measurements", "addenda")


class SessionRecord(Resource, Archivable):
    """One massage session: its booking, its clinical note, and its signature."""

    __tablename__ = "session_records"
    # the first matching change names the event: signing, then completing, then any other
    __events__: ClassVar[Emits] = Emits(
        "session",
        created="session.created",
        changed=(
            Change("session.signed", to={"note_status": "signed"}),
            Change("session.completed", to={"status": "completed"}),
            Change("session.updated"),
        ),
        read=read_sessions,
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    care_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_plans.id"))
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapists.id"))
    scheduled_start: Mapped[dt.datetime]
    scheduled_end: Mapped[dt.datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    session_type: Mapped[str] = mapped_column(String(32))
    body_regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    regions_avoided: Mapped[list[str]] = mapped_column(JSONType, default=list)
    techniques: Mapped[list[str]] = mapped_column(JSONType, default=list)
    pressure: Mapped[str | None] = mapped_column(String(16))
    soap: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    health_update: Mapped[str | None] = mapped_column(Text)
    adverse_event: Mapped[str | None] = mapped_column(Text)
    home_care: Mapped[str | None] = mapped_column(Text)
    adjacent_appointment: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    note_status: Mapped[str] = mapped_column(String(16), default="draft")
    signed_at: Mapped[dt.datetime | None]
    signed_by: Mapped[uuid.UUID | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64))

    # loaded explicitly (selectinload) wherever they are used: a lazy load raises
    measurements: Mapped[list[Measurement]] = relationship(
        order_by="Measurement.position", lazy="raise", cascade="all, delete-orphan"
    )
    addenda: Mapped[list[Addendum]] = relationship(
        order_by="(Addendum.created_at, Addendum.id)", lazy="raise"
    )

    __table_args__ = (
        Index("ix_session_records_created_at_id", "created_at", "id"),
        Index("ix_session_records_client_id", "client_id", "scheduled_start"),
        Index("ix_session_records_care_plan_id", "care_plan_id", "scheduled_start"),
        Index("ix_session_records_therapist_id", "therapist_id", "scheduled_start"),
        Index("ix_session_records_status", "status", "created_at", "id"),
        Index("ix_session_records_updated_at", "updated_at"),
    )


class Measurement(Base):
    """A measured value recorded in a session (pre or post), optionally against a goal."""

    __tablename__ = "measurements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session_records.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    goal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("goals.id"))
    position: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(50))
    timing: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_measurements_session_id", "session_id", "position"),
        Index("ix_measurements_client_id", "client_id", "created_at"),
        # a summary finds each of its sessions' measurements here: the probes of one plan land
        # on its client's own pages, however many sessions the table holds (by `session_id`
        # alone they would scatter over the whole index)
        Index("ix_measurements_client_id_session_id", "client_id", "session_id"),
        Index("ix_measurements_goal_id", "goal_id"),
    )


class Addendum(Base):
    """A correction appended to a signed note: never changed, never deleted."""

    __tablename__ = "addenda"
    # an addendum is a change of its session: the event carries the session, addenda included
    __events__: ClassVar[Emits] = Emits(
        "session",
        created="session.addendum_added",
        resource_id="session_id",
        resource_model=SessionRecord,
        read=read_sessions,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session_records.id"))
    author_type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[uuid.UUID]
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_addenda_session_id", "session_id", "created_at"),)
