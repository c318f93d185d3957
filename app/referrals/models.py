from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Archivable, JSONType, Resource
from app.events.outbox import Change, Emits, read_as
from app.referrals.schemas import ReferralRead


class Referral(Resource, Archivable):
    __tablename__ = "referrals"
    __events__: ClassVar[Emits] = Emits(
        "referral",
        created="referral.created",
        changed=(Change("referral.updated"),),
        read=read_as(ReferralRead.model_validate),
    )

    # null while a referrer's referral waits for the clinic to link a client (it names the
    # patient in `patient` instead)
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"))
    patient: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    referring_professional_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referring_professionals.id")
    )
    received_on: Mapped[dt.date]
    reason: Mapped[str | None] = mapped_column(Text)
    diagnosis_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    diagnosis_text: Mapped[str | None] = mapped_column(Text)
    authorized_sessions: Mapped[int | None]
    valid_until: Mapped[dt.date | None]
    precautions_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")

    __table_args__ = (
        Index("ix_referrals_created_at_id", "created_at", "id"),
        Index("ix_referrals_client_id", "client_id", "created_at", "id"),
        Index(
            "ix_referrals_referring_professional_id",
            "referring_professional_id",
            "created_at",
            "id",
        ),
        Index("ix_referrals_status", "status", "created_at", "id"),
        Index("ix_referrals_updated_at", "updated_at"),
    )
