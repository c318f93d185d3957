from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Archivable, JSONType, Resource


class Therapist(Resource, Archivable):
    __tablename__ = "therapists"

    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    license_number: Mapped[str | None] = mapped_column(String(100))
    license_region: Mapped[str | None] = mapped_column(String(100))
    license_expires_on: Mapped[dt.date | None]
    credentials: Mapped[list[str]] = mapped_column(JSONType, default=list)
    certifications: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        Index("ix_therapists_created_at_id", "created_at", "id"),
        Index("ix_therapists_updated_at", "updated_at"),
    )


class ReferringProfessional(Resource, Archivable):
    __tablename__ = "referring_professionals"

    full_name: Mapped[str] = mapped_column(String(200))
    discipline: Mapped[str] = mapped_column(String(32))
    organization: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    fax: Mapped[str | None] = mapped_column(String(50))
    registration_number: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        Index("ix_referring_professionals_created_at_id", "created_at", "id"),
        Index("ix_referring_professionals_discipline", "discipline", "created_at", "id"),
        Index("ix_referring_professionals_updated_at", "updated_at"),
    )
