"""Progress summaries of care plans: the rows they need, loaded in a fixed number of queries, and
the computation over those rows, which does no I/O.

What a summary holds is the minimum necessary for the practitioner who referred the client:
counts, goal progress, measurements, techniques, adverse events and the latest SOAP assessment
and plan. The SOAP subjective and objective, the health update and the home-care advice are
never even read from the database here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients import service as clients_service
from app.clients.models import Client
from app.directory.models import ReferringProfessional
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord
from app.summaries.schemas import (
    AdverseEvent,
    CarePlanSummary,
    GoalProgress,
    MeasurePoint,
    MeasureSeries,
    Period,
    ReferralSummary,
    SessionCounts,
    SummaryClient,
)

COMPLETED = "completed"
SCHEDULED = "scheduled"
# within one session, `pre` comes before `post`
TIMING_ORDER = {"pre": 0, "post": 1}
PERCENT_STEP = Decimal("0.1")


# ---- the rows a summary is computed from ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCount:
    """How many of a plan's sessions are in one status, and how many of those lie ahead."""

    care_plan_id: uuid.UUID
    status: str
    count: int
    ahead: int


@dataclass(frozen=True, slots=True)
class CompletedSession:
    """What a summary uses of a completed session: no subjective or objective text."""

    id: uuid.UUID
    care_plan_id: uuid.UUID
    scheduled_start: dt.datetime
    techniques: list[str]
    assessment: str | None
    plan: str | None
    adverse_event: str | None


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """A care plan's summary, and for the reports each goal's own measurements over time."""

    summary: CarePlanSummary
    goal_points: dict[uuid.UUID, list[MeasurePoint]]

    def points_of(self, goal_id: uuid.UUID) -> list[MeasurePoint]:
        return self.goal_points.get(goal_id, [])


@dataclass(frozen=True, slots=True)
class ReferralProgress:
    summary: ReferralSummary
    plans: list[PlanProgress]


@dataclass(frozen=True, slots=True)
class MeasuredValue:
    """One measurement of a completed session, with that session's time."""

    session_id: uuid.UUID
    care_plan_id: uuid.UUID
    at: dt.datetime
    goal_id: uuid.UUID | None
    measure: str
    value: float
    timing: str
    position: int

    @property
    def order(self) -> tuple[dt.datetime, uuid.UUID, int, int]:
        return (self.at, self.session_id, TIMING_ORDER.get(self.timing, 0), self.position)


# ---- the computation -------------------------------------------------------------------------


def progress_percent(
    baseline: float | None, target: float | None, latest: float | None
) -> float | None:
    """100 × (latest − baseline) / (target − baseline), rounded to one decimal, halves away from
    zero, computed on the decimal values as entered (so 3.25 rounds to 3.3, as by hand).

    Negative when the measure moved away from the target, over 100 when it went past it; None
    without a latest value, a baseline or a target, or when the target equals the baseline."""
    if latest is None or baseline is None or target is None or target == baseline:
        return None
    b, t, v = (Decimal(repr(float(x))) for x in (baseline, target, latest))
    percent = (v - b) * 100 / (t - b)
    rounded = float(percent.quantize(PERCENT_STEP, rounding=ROUND_HALF_UP))
    return rounded if rounded != 0 else 0.0  # never "-0.0"


def _text(value: str | None) -> str | None:
    """Free text worth showing: None for missing or blank."""
    if value is None or not value.strip():
        return None
    return value


def summarize_care_plan(
    plan: CarePlan,
    client: Client,
    goals: Sequence[Goal],
    counts: Iterable[StatusCount],
    sessions: Iterable[CompletedSession],
    measurements: Iterable[MeasuredValue],
    now: dt.datetime,
) -> PlanProgress:
    """A care plan's summary from its rows; the rows of other plans are ignored."""
    by_status = {c.status: c for c in counts if c.care_plan_id == plan.id}

    def count(status: str) -> int:
        row = by_status.get(status)
        return row.count if row else 0

    scheduled = by_status.get(SCHEDULED)
    completed = sorted(
        (s for s in sessions if s.care_plan_id == plan.id),
        key=lambda s: (s.scheduled_start, s.id),
    )
    values = sorted((m for m in measurements if m.care_plan_id == plan.id), key=lambda m: m.order)

    latest: dict[uuid.UUID, MeasuredValue] = {}
    series: dict[str, list[MeasurePoint]] = {}
    goal_points: dict[uuid.UUID, list[MeasurePoint]] = {}
    for m in values:  # oldest first: the last one seen of a goal is its latest
        point = MeasurePoint(at=m.at, value=m.value, timing="post" if m.timing == "post" else "pre")
        series.setdefault(m.measure, []).append(point)
        if m.goal_id is not None:
            latest[m.goal_id] = m
            goal_points.setdefault(m.goal_id, []).append(point)

    techniques: Counter[str] = Counter()
    for s in completed:
        techniques.update(set(s.techniques or ()))
    assessments = [s.assessment for s in completed if _text(s.assessment)]
    plans = [s.plan for s in completed if _text(s.plan)]

    summary = CarePlanSummary(
        care_plan_id=plan.id,
        title=plan.title,
        kind=plan.kind,
        status=plan.status,
        client=summary_client(client),
        period=Period(start=plan.start_date, end=plan.end_date),
        sessions=SessionCounts(
            planned=plan.planned_sessions,
            completed=count(COMPLETED),
            cancelled=count("cancelled"),
            no_show=count("no_show"),
            upcoming=scheduled.ahead if scheduled else 0,
        ),
        goals=[_goal_progress(g, latest.get(g.id)) for g in goals if g.care_plan_id == plan.id],
        measures=[MeasureSeries(measure=name, points=points) for name, points in series.items()],
        techniques=dict(sorted(techniques.items(), key=lambda item: (-item[1], item[0]))),
        latest_assessment=assessments[-1] if assessments else None,
        latest_plan=plans[-1] if plans else None,
        adverse_events=[
            AdverseEvent(
                session_id=s.id,
                date=s.scheduled_start.astimezone(dt.UTC).date(),
                description=s.adverse_event,
            )
            for s in completed
            if s.adverse_event is not None and _text(s.adverse_event)
        ],
        generated_at=now,
    )
    return PlanProgress(summary, goal_points)


def _goal_progress(goal: Goal, latest: MeasuredValue | None) -> GoalProgress:
    value = latest.value if latest else None
    return GoalProgress(
        id=goal.id,
        description=goal.description,
        measure=goal.measure,
        unit=goal.unit,
        baseline_value=goal.baseline_value,
        target_value=goal.target_value,
        latest_value=value,
        latest_at=latest.at if latest else None,
        progress_percent=progress_percent(goal.baseline_value, goal.target_value, value),
        status=goal.status,
    )


def summary_client(client: Client) -> SummaryClient:
    return SummaryClient(
        id=client.id,
        given_name=client.given_name,
        family_name=client.family_name,
        date_of_birth=client.date_of_birth,
    )


# ---- loading ---------------------------------------------------------------------------------


def _sessions_of(plan_ids: Sequence[uuid.UUID], client_id: uuid.UUID) -> ColumnElement[bool]:
    """The non-archived sessions of these plans that are this client's."""
    return and_(
        SessionRecord.care_plan_id.in_(list(plan_ids)),
        SessionRecord.client_id == client_id,
        SessionRecord.archived_at.is_(None),
    )


async def _summaries(
    db: AsyncSession, client: Client, plans: Sequence[CarePlan], now: dt.datetime
) -> list[PlanProgress]:
    """The summaries of some plans of one client: four queries, whatever the number of plans,
    goals, sessions or measurements."""
    if not plans:
        return []
    plan_ids = [p.id for p in plans]
    goals = list(
        (
            await db.scalars(
                select(Goal)
                .where(Goal.care_plan_id.in_(plan_ids), Goal.archived_at.is_(None))
                .order_by(Goal.created_at, Goal.id)
            )
        ).all()
    )
    counts = [
        StatusCount(row.care_plan_id, row.status, row.sessions, row.ahead or 0)
        for row in await db.execute(
            select(
                SessionRecord.care_plan_id,
                SessionRecord.status,
                func.count().label("sessions"),
                func.sum(case((SessionRecord.scheduled_start >= now, 1), else_=0)).label("ahead"),
            )
            .where(_sessions_of(plan_ids, client.id))
            .group_by(SessionRecord.care_plan_id, SessionRecord.status)
        )
    ]
    completed = and_(_sessions_of(plan_ids, client.id), SessionRecord.status == COMPLETED)
    sessions = [
        CompletedSession(
            row.id,
            row.care_plan_id,
            row.scheduled_start,
            list(row.techniques or []),
            row.assessment,
            row.plan,
            row.adverse_event,
        )
        for row in await db.execute(
            select(
                SessionRecord.id,
                SessionRecord.care_plan_id,
                SessionRecord.scheduled_start,
                SessionRecord.techniques,
                SessionRecord.soap["assessment"].as_string().label("assessment"),
                SessionRecord.soap["plan"].as_string().label("plan"),
                SessionRecord.adverse_event,
            )
            .where(completed)
            .order_by(SessionRecord.scheduled_start, SessionRecord.id)
        )
    ]
    measurements = [
        MeasuredValue(
            row.session_id,
            row.care_plan_id,
            row.scheduled_start,
            row.goal_id,
            row.measure,
            row.value,
            row.timing,
            row.position,
        )
        for row in await db.execute(
            select(
                Measurement.session_id,
                SessionRecord.care_plan_id,
                SessionRecord.scheduled_start,
                Measurement.goal_id,
                Measurement.measure,
                Measurement.value,
                Measurement.timing,
                Measurement.position,
            )
            .join(SessionRecord, SessionRecord.id == Measurement.session_id)
            .where(completed, Measurement.client_id == client.id)
        )
    ]
    return [
        summarize_care_plan(plan, client, goals, counts, sessions, measurements, now)
        for plan in plans
    ]


async def _client(db: AsyncSession, client_id: uuid.UUID | None) -> Client:
    # a referral without a client has no summary: its dependency answers before this runs
    client = await db.get(Client, client_id) if client_id is not None else None
    if client is None:  # the foreign key makes this impossible short of a broken database
        raise LookupError(f"client {client_id} of a care plan or referral is missing")
    return client


async def care_plan_summary(db: AsyncSession, plan: CarePlan, now: dt.datetime) -> PlanProgress:
    client = await _client(db, plan.client_id)
    (progress,) = await _summaries(db, client, [plan], now)
    return progress


async def referral_summary(
    db: AsyncSession, referral: Referral, now: dt.datetime
) -> ReferralProgress:
    """The summaries of the referral's non-archived care plans, oldest plan first."""
    client = await _client(db, referral.client_id)
    link = care_plan_referrals.c
    plans = list(
        (
            await db.scalars(
                select(CarePlan)
                .join(care_plan_referrals, link.care_plan_id == CarePlan.id)
                .where(
                    link.referral_id == referral.id,
                    CarePlan.client_id == referral.client_id,
                    CarePlan.archived_at.is_(None),
                )
                .order_by(CarePlan.created_at, CarePlan.id)
            )
        ).all()
    )
    progress = await _summaries(db, client, plans, now)
    summary = ReferralSummary(
        referral_id=referral.id,
        referring_professional_id=referral.referring_professional_id,
        client=summary_client(client),
        care_plans=[p.summary for p in progress],
    )
    return ReferralProgress(summary, progress)


async def referring_professional_name(db: AsyncSession, professional_id: uuid.UUID) -> str | None:
    name: str | None = await db.scalar(
        select(ReferringProfessional.full_name).where(ReferringProfessional.id == professional_id)
    )
    return name


# ---- what a referrer may read ----------------------------------------------------------------


async def client_shares_with(
    db: AsyncSession, client_id: uuid.UUID, professional_id: uuid.UUID, today: dt.date
) -> bool:
    found = await db.scalar(
        select(literal(1)).where(
            clients_service.sharing_consent_is_active(client_id, professional_id, today)
        )
    )
    return found is not None


async def plan_shared_with(
    db: AsyncSession, plan: CarePlan, professional_id: uuid.UUID, today: dt.date
) -> bool:
    """The plan is linked to one of the professional's own (non-archived) referrals, and the
    client shares with that professional."""
    link = care_plan_referrals.c
    own_referral = exists().where(
        link.care_plan_id == plan.id,
        Referral.id == link.referral_id,
        Referral.referring_professional_id == professional_id,
        Referral.archived_at.is_(None),
    )
    found = await db.scalar(
        select(literal(1)).where(
            own_referral,
            clients_service.sharing_consent_is_active(plan.client_id, professional_id, today),
        )
    )
    return found is not None
