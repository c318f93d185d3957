from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import Column, Float, ForeignKey, Index, String, Table, Text, Uuid, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.care_plans.schemas import CarePlanRead, GoalRead
from app.core.db import Archivable, Base, JSONType, Resource
from app.events.outbox import Change, Emits, read_as

care_plan_referrals = Table(
    "care_plan_referrals",
    Base.metadata,
    Column("care_plan_id", Uuid(), ForeignKey("care_plans.id"), primary_key=True),
    Column("referral_id", Uuid(), ForeignKey("referrals.id"), primary_key=True),
    Index("ix_care_plan_referrals_referral_id", "referral_id"),
)


def read_care_plans(
    db: Session, model: type[Any], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Care plans as an admin reads them, with their referral ids (oldest referral first)."""
    from app.referrals.models import Referral

    link = care_plan_referrals.c
    links: dict[uuid.UUID, list[uuid.UUID]] = {plan_id: [] for plan_id in ids}
    for plan_id, referral_id in db.execute(
        select(link.care_plan_id, link.referral_id)
        .join(Referral, Referral.id == link.referral_id)
        .where(link.care_plan_id.in_(ids))
        .order_by(Referral.created_at, Referral.id)
    ):
        links[plan_id].append(referral_id)
    rows = db.scalars(
        select(model).where(model.id.in_(ids)).execution_options(populate_existing=True)
    )
    return {row.id: CarePlanRead.of(row, links[row.id]).model_dump(mode="json") for row in rows}


class CarePlan(Resource, Archivable):
    __tablename__ = "care_plans"
    __events__: ClassVar[Emits] = Emits(
        "care_plan",
        created="care_plan.created",
        changed=(Change("care_plan.status_changed", fields=frozenset({"status"})),),
        read=read_care_plans,
    )

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
    __events__: ClassVar[Emits] = Emits(
        "goal", changed=(Change("goal.updated"),), read=read_as(GoalRead.model_validate)
    )

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
