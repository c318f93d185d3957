from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Archivable, Base, JSONType, Resource

care_plan_referrals = Table(
    "care_plan_referrals",
    Base.metadata,
    Column("care_plan_id", Uuid(), ForeignKey("care_plans.id"), primary_key=True),
    Column("referral_id", Uuid(), ForeignKey("referrals.id"), primary_key=True),
    Index("ix_care_plan_referrals_referral_id", "referral_id"),
)


class CarePlan(Resource, Archivable):
    __tablename__ = "care_plans"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    primary_therapist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("therapists.id"))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="draft")
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    planned_sessions: Mapped[int | None]
    sessions_per_week: Mapped[float | None] = mapped_column(Float)
    coordinated_care: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_care_plans_created_at_id", "created_at", "id"),
        Index("ix_care_plans_client_id", "client_id", "created_at", "id"),
        Index("ix_care_plans_status", "status", "created_at", "id"),
        Index("ix_care_plans_primary_therapist_id", "primary_therapist_id", "created_at", "id"),
        Index("ix_care_plans_updated_at", "updated_at"),
    )


class Goal(Resource, Archivable):
    __tablename__ = "goals"

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plans.id"))
    description: Mapped[str] = mapped_column(Text)
    measure: Mapped[str] = mapped_column(String(16))
    measure_label: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(50))
    baseline_value: Mapped[float | None] = mapped_column(Float)
    target_value: Mapped[float | None] = mapped_column(Float)
    target_date: Mapped[dt.date | None]
    mcid: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="proposed")

    __table_args__ = (Index("ix_goals_care_plan_id", "care_plan_id", "created_at", "id"),)
