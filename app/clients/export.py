"""The client's whole record as one document (the right of access), in a fixed number of
queries whatever the record's size. Archived rows are part of the record and are included."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans import service as care_plans_service
from app.care_plans.models import CarePlan, Goal
from app.care_plans.schemas import CarePlanRead, GoalRead
from app.clients.models import Client, Consent, Precaution
from app.clients.schemas import ClientRead, ConsentRead, PrecautionRead
from app.core.db import utcnow
from app.core.responses import ReadModel
from app.referrals.models import Referral
from app.referrals.schemas import ReferralRead
from app.session_records import service as sessions_service
from app.session_records.models import SessionRecord
from app.session_records.schemas import SessionRead


class CarePlanExport(CarePlanRead):
    goals: list[GoalRead]


class ClientExport(ReadModel):
    exported_at: dt.datetime
    client: ClientRead
    precautions: list[PrecautionRead]
    consents: list[ConsentRead]
    referrals: list[ReferralRead]
    care_plans: list[CarePlanExport]
    sessions: list[SessionRead]


async def _all(db: AsyncSession, stmt: Any) -> list[Any]:
    return list((await db.scalars(stmt)).all())


async def export_client(db: AsyncSession, client: Client) -> ClientExport:
    def of_client(model: Any) -> Any:
        return (
            select(model).where(model.client_id == client.id).order_by(model.created_at, model.id)
        )

    precautions = await _all(db, of_client(Precaution))
    consents = await _all(db, of_client(Consent))
    referrals = await _all(db, of_client(Referral))
    plans = await _all(db, of_client(CarePlan))
    plan_ids = [p.id for p in plans]
    links = await care_plans_service.referral_ids_of(db, plan_ids)
    goals = (
        await _all(
            db,
            select(Goal).where(Goal.care_plan_id.in_(plan_ids)).order_by(Goal.created_at, Goal.id),
        )
        if plan_ids
        else []
    )
    sessions = await _all(
        db,
        sessions_service.with_children(
            select(SessionRecord)
            .where(SessionRecord.client_id == client.id)
            .order_by(SessionRecord.scheduled_start, SessionRecord.id)
        ),
    )
    today = utcnow().date()
    goals_of: dict[Any, list[GoalRead]] = {plan_id: [] for plan_id in plan_ids}
    for goal in goals:
        goals_of[goal.care_plan_id].append(GoalRead.model_validate(goal))
    return ClientExport(
        exported_at=utcnow(),
        client=ClientRead.model_validate(client),
        precautions=[PrecautionRead.of(p) for p in precautions],
        consents=[ConsentRead.of(c, today) for c in consents],
        referrals=[ReferralRead.model_validate(r) for r in referrals],
        care_plans=[
            CarePlanExport.model_validate(
                {**CarePlanRead.of(p, links[p.id]).model_dump(), "goals": goals_of[p.id]}
            )
            for p in plans
        ],
        sessions=[SessionRead.of(s) for s in sessions],
    )
