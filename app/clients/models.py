from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clients.schemas import ClientRead
from app.core.db import Archivable, JSONType, Resource
from app.events.outbox import Change, Emits, read_as


class Client(Resource, Archivable):
    __tablename__ = "clients"
    __events__: ClassVar[Emits] = Emits(
        "client",
        created="client.created",
        changed=(Change("client.updated"),),
        read=read_as(ClientRead.model_validate),
    )

    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date | None]
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(500))
    emergency_contact: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    pregnancy_due_date: Mapped[dt.date | None]
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_clients_created_at_id", "created_at", "id"),
        Index("ix_clients_updated_at", "updated_at"),
        Index("ix_clients_family_name_given_name", "family_name", "given_name"),
    )


class Precaution(Resource):
    __tablename__ = "precautions"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    body_regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    requires_clearance: Mapped[bool] = mapped_column(default=False)
    clearance_referring_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referring_professionals.id")
    )
    cleared_on: Mapped[dt.date | None]
    clearance_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_precautions_client_id", "client_id", "created_at", "id"),)


class Consent(Resource):
    __tablename__ = "consents"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    kind: Mapped[str] = mapped_column(String(32))
    referring_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referring_professionals.id")
    )
    granted_on: Mapped[dt.date]
    expires_on: Mapped[dt.date | None]
    revoked_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_consents_client_id", "client_id", "created_at", "id"),
        Index("ix_consents_referring_professional_id", "referring_professional_id", "client_id"),
    )
