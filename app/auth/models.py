from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Resource


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
    # carried by every access token; deactivation, a new password or a new role bumps it, and
    # a token whose generation is not the user's current one is refused (revocation at once)
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

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


class LoginFailure(Base):
    """One failed login: which account was tried, from which client address, when. The login
    throttle counts these in sliding windows (shared by every worker through the database)."""

    __tablename__ = "login_failures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[dt.datetime]
    account: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_login_failures_account", "account", "at"),
        Index("ix_login_failures_address", "address", "at"),
        Index("ix_login_failures_at", "at"),
    )
