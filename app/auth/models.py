from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Resource


class User(Resource):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    therapist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("therapists.id"))
    referring_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referring_professionals.id")
    )
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (Index("ix_users_created_at_id", "created_at", "id"),)


class ApiKey(Resource):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    therapist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("therapists.id"))
    referring_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referring_professionals.id")
    )
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None]
    revoked_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_api_keys_created_at_id", "created_at", "id"),)
