"""Loading what the FHIR facade shows: a fixed number of queries per request, whatever the
number of rows. Archived rows (and the rows of an archived plan or session) are not shown."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients import service as clients_service
from app.clients.models import Client
from app.core.pagination import PageParams, encode_cursor, paginate_by
from app.directory.models import ReferringProfessional, Therapist
from app.fhir.mapping import CarePlanSource, GoalSource, ObservationSource
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord

AnySelect = Select[*tuple[Any, ...]]

# ---- who may see a client ----------------------------------------------------------------------


async def shared_with_referrer(
    db: AsyncSession, client_id: uuid.UUID, referring_professional_id: uuid.UUID, today: dt.date
) -> bool:
    """Whether the client was referred by this professional and holds an active
    `share_with_referrer` consent naming it (granted, not expired, not revoked)."""
    referred = exists().where(
        Referral.client_id == Client.id,
        Referral.referring_professional_id == referring_professional_id,
        Referral.archived_at.is_(None),
    )
    consented = clients_service.sharing_consent_is_active(
        Client.id, referring_professional_id, today
    )
    found = await db.scalar(
        select(Client.id).where(
            Client.id == client_id, Client.archived_at.is_(None), referred, consented
        )
    )
    return found is not None


# ---- reads by id -------------------------------------------------------------------------------


async def get_client(db: AsyncSession, client_id: uuid.UUID) -> Client | None:
    row: Client | None = await db.scalar(
        select(Client).where(Client.id == client_id, Client.archived_at.is_(None))
    )
    return row


async def get_practitioner(
    db: AsyncSession, practitioner_id: uuid.UUID
) -> Therapist | ReferringProfessional | None:
    """A Practitioner is a therapist or a referring professional: the id names one of them."""
    therapist: Therapist | None = await db.scalar(
        select(Therapist).where(Therapist.id == practitioner_id, Therapist.archived_at.is_(None))
    )
    if therapist is not None:
        return therapist
    professional: ReferringProfessional | None = await db.scalar(
        select(ReferringProfessional).where(
            ReferringProfessional.id == practitioner_id,
            ReferringProfessional.archived_at.is_(None),
        )
    )
    return professional


async def get_referral(db: AsyncSession, referral_id: uuid.UUID) -> Referral | None:
    row: Referral | None = await db.scalar(
        select(Referral).where(Referral.id == referral_id, Referral.archived_at.is_(None))
    )
    return row


async def get_care_plan(db: AsyncSession, plan_id: uuid.UUID) -> CarePlanSource | None:
    plan: CarePlan | None = await db.scalar(
        select(CarePlan).where(CarePlan.id == plan_id, CarePlan.archived_at.is_(None))
    )
    if plan is None:
        return None
    return (await care_plan_sources(db, [plan]))[0]


async def care_plan_sources(db: AsyncSession, plans: Sequence[CarePlan]) -> list[CarePlanSource]:
    """The plans with their goals, referrals and sessions: three queries for any number."""
    if not plans:
        return []
    plan_ids = [plan.id for plan in plans]
    goals: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for plan_id, goal_id in await db.execute(
        select(Goal.care_plan_id, Goal.id)
        .where(Goal.care_plan_id.in_(plan_ids), Goal.archived_at.is_(None))
        .order_by(Goal.created_at, Goal.id)
    ):
        goals[plan_id].append(goal_id)
    referrals: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    link = care_plan_referrals.c
    for plan_id, referral_id in await db.execute(
        select(link.care_plan_id, link.referral_id)
        .join(Referral, Referral.id == link.referral_id)
        .where(link.care_plan_id.in_(plan_ids), Referral.archived_at.is_(None))
        .order_by(Referral.created_at, Referral.id)
    ):
        referrals[plan_id].append(referral_id)
    sessions: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for session_plan_id, session_id in await db.execute(
        select(SessionRecord.care_plan_id, SessionRecord.id)
        .where(SessionRecord.care_plan_id.in_(plan_ids), SessionRecord.archived_at.is_(None))
        .order_by(SessionRecord.scheduled_start, SessionRecord.id)
    ):
        sessions[session_plan_id].append(session_id)
    return [
        CarePlanSource(plan, goals[plan.id], referrals[plan.id], sessions[plan.id])
        for plan in plans
    ]


async def get_goal(db: AsyncSession, goal_id: uuid.UUID) -> GoalSource | None:
    row = (
        await db.execute(
            select(Goal, CarePlan.client_id)
            .join(CarePlan, CarePlan.id == Goal.care_plan_id)
            .where(Goal.id == goal_id, Goal.archived_at.is_(None), CarePlan.archived_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    goal, client_id = row
    observation_ids = list(
        await db.scalars(
            select(Measurement.id)
            .join(SessionRecord, SessionRecord.id == Measurement.session_id)
            .where(Measurement.goal_id == goal_id, SessionRecord.archived_at.is_(None))
            .order_by(SessionRecord.scheduled_start, Measurement.position)
        )
    )
    return GoalSource(goal, client_id, observation_ids)


async def get_session(db: AsyncSession, session_id: uuid.UUID) -> SessionRecord | None:
    # an Encounter needs none of the session's measurements or addenda: they are not loaded
    row: SessionRecord | None = await db.scalar(
        select(SessionRecord).where(
            SessionRecord.id == session_id, SessionRecord.archived_at.is_(None)
        )
    )
    return row


def _observations() -> AnySelect:
    return (
        select(
            Measurement,
            SessionRecord.scheduled_start,
            SessionRecord.scheduled_end,
            SessionRecord.therapist_id,
            Goal.measure_label,
        )
        .join(SessionRecord, SessionRecord.id == Measurement.session_id)
        .outerjoin(Goal, Goal.id == Measurement.goal_id)
        .where(SessionRecord.archived_at.is_(None))
    )


def _observation_source(row: Any) -> ObservationSource:
    measurement, start, end, therapist_id, label = row
    return ObservationSource(measurement, start, end, therapist_id, label)


async def get_measurement(db: AsyncSession, measurement_id: uuid.UUID) -> ObservationSource | None:
    row = (await db.execute(_observations().where(Measurement.id == measurement_id))).one_or_none()
    return _observation_source(row) if row is not None else None


# ---- searches by patient -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a search: the rows, the number of all matches and the next page's cursor."""

    rows: list[Any]
    total: int
    next_cursor: str | None


async def _search(
    db: AsyncSession,
    stmt: AnySelect,
    keyset: tuple[Any, Any],
    page: PageParams,
) -> tuple[list[Any], int, str | None]:
    """The number of matches and (unless it is zero or no rows are asked for) one page of
    `stmt` in keyset order: two queries at most."""
    count = stmt.with_only_columns(func.count(), maintain_column_froms=True)
    total = await db.scalar(count) or 0
    if total == 0 or page.limit == 0:
        return [], total, None
    rows = list((await db.execute(paginate_by(stmt.add_columns(*keyset), *keyset, page))).all())
    cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        cursor = encode_cursor(last[-2], last[-1])
    return rows, total, cursor


async def search_care_plans(db: AsyncSession, client_id: uuid.UUID, page: PageParams) -> SearchPage:
    stmt = select(CarePlan).where(CarePlan.client_id == client_id, CarePlan.archived_at.is_(None))
    rows, total, cursor = await _search(db, stmt, (CarePlan.created_at, CarePlan.id), page)
    sources = await care_plan_sources(db, [row[0] for row in rows])
    return SearchPage(sources, total, cursor)


async def search_sessions(db: AsyncSession, client_id: uuid.UUID, page: PageParams) -> SearchPage:
    stmt = select(SessionRecord).where(
        SessionRecord.client_id == client_id, SessionRecord.archived_at.is_(None)
    )
    keyset = (SessionRecord.scheduled_start, SessionRecord.id)
    rows, total, cursor = await _search(db, stmt, keyset, page)
    return SearchPage([row[0] for row in rows], total, cursor)


async def search_measurements(
    db: AsyncSession, client_id: uuid.UUID, page: PageParams
) -> SearchPage:
    stmt = _observations().where(Measurement.client_id == client_id)
    keyset = (SessionRecord.scheduled_start, Measurement.id)
    rows, total, cursor = await _search(db, stmt, keyset, page)
    return SearchPage([_observation_source(row[:5]) for row in rows], total, cursor)
