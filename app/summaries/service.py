"""Progress summaries of care plans: the rows they need, loaded in a fixed number of queries, and
the computation over those rows, which does no I/O.

What a summary holds is the minimum necessary for the practitioner who referred the client:
the treating therapist, the referrals, the client's active precautions (never their free-text
description), counts, goal progress, measurements, techniques, adverse events and the latest
SOAP assessment and plan. Only signed notes feed the clinical content: a draft can still change.
The SOAP subjective and objective, the health update and the home-care advice are never even
read from the database here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app import measures
from app.auth.models import User
from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients import service as clients_service
from app.clients.models import Client, Precaution
from app.core import statements
from app.core.statements import Row
from app.directory.models import ReferringProfessional, Therapist
from app.referrals.models import Referral
from app.session_records.models import Addendum, Measurement, SessionRecord
from app.summaries.schemas import (
    CarePlanSummary,
    MeasurePoint,
    ReferralSummary,
    SummaryClient,
    SummaryPrecaution,
    SummaryProfessional,
    SummaryReferral,
    SummaryTherapist,
)

COMPLETED = "completed"
SCHEDULED = "scheduled"
SIGNED = "signed"
ACTIVE = "active"
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
    unsigned: int = 0  # of those, notes not signed yet


@dataclass(frozen=True, slots=True)
class CompletedSession:
    """What a summary uses of a completed session with a signed note: no subjective or
    objective text."""

    id: uuid.UUID
    care_plan_id: uuid.UUID
    scheduled_start: dt.datetime
    techniques: list[str]
    assessment: str | None
    plan: str | None
    adverse_event: str | None
    signed_at: dt.datetime | None = None
    signed_by: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class SignedNote:
    """For the reports: when a note was signed, by whom, and how many addenda correct it."""

    session_id: uuid.UUID
    date: dt.date
    signed_at: dt.datetime | None
    signed_by: str | None
    addenda: int


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What a summary shows besides the sessions: who treats, who referred, what to watch."""

    therapists: dict[uuid.UUID, SummaryTherapist] = field(default_factory=dict)
    referrals: dict[uuid.UUID, list[SummaryReferral]] = field(default_factory=dict)  # by plan
    precautions: list[SummaryPrecaution] = field(default_factory=list)
    signers: dict[uuid.UUID, str] = field(default_factory=dict)  # person id → name
    addenda: dict[uuid.UUID, int] = field(default_factory=dict)  # session id → count


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """A care plan's summary, and for the reports each goal's own measurements over time and
    the signature of each note."""

    summary: CarePlanSummary
    goal_points: dict[uuid.UUID, list[MeasurePoint]]
    notes: list[SignedNote] = field(default_factory=list)

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


def lasting_change(values: Sequence[MeasuredValue]) -> float | None:
    """The latest pre-session value minus the first (sessions in order, the last `pre` of a
    session counting): what held between visits. None with fewer than two sessions measured
    before treatment."""
    pre: dict[uuid.UUID, MeasuredValue] = {}
    for m in sorted(values, key=lambda m: m.order):
        if m.timing == "pre":
            pre.pop(m.session_id, None)  # keeps the sessions in the order of their last `pre`
            pre[m.session_id] = m
    by_session = sorted(pre.values(), key=lambda m: m.order)
    if len(by_session) < 2:
        return None
    return measures.difference(by_session[-1].value, by_session[0].value)


def immediate_change(values: Sequence[MeasuredValue]) -> float | None:
    """The mean over sessions measured both before and after treatment of (last post − last
    pre): the relief of the visit itself, rounded to two decimals. None without such a
    session."""
    pre: dict[uuid.UUID, float] = {}
    post: dict[uuid.UUID, float] = {}
    for m in sorted(values, key=lambda m: m.order):
        (post if m.timing == "post" else pre)[m.session_id] = m.value
    both = [s for s in pre if s in post]
    if not both:
        return None
    total = sum((Decimal(repr(post[s])) - Decimal(repr(pre[s])) for s in both), Decimal(0))
    mean = float((total / len(both)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return mean if mean != 0 else 0.0


def clinically_important(
    measure: str,
    baseline: float | None,
    target: float | None,
    latest: float | None,
    mcid: float | None,
) -> bool | None:
    """Whether baseline → latest is an improvement of at least the minimal important change,
    in the goal's direction; None when any of those is unknown."""
    direction = measures.goal_direction(measure, baseline, target)
    if baseline is None or latest is None or mcid is None or direction is None:
        return None
    return measures.reaches_mcid(measures.difference(latest, baseline), mcid, direction)


def _text(value: str | None) -> str | None:
    """Free text worth showing: None for missing or blank."""
    if value is None or not value.strip():
        return None
    return value


def summarize_care_plan(
    plan: Row,
    client: Row,
    goals: Sequence[Row],
    counts: Iterable[StatusCount],
    sessions: Iterable[CompletedSession],
    measurements: Iterable[MeasuredValue],
    now: dt.datetime,
    context: PlanContext | None = None,
    *,
    notes: bool = True,
) -> PlanProgress:
    """A care plan's summary from its rows (as `PLAN`, `CLIENT` and `GOALS` read them); the rows
    of other plans are ignored. `sessions` and `measurements` are those of signed notes only.
    The signature of each note (`notes`) is for the reports: a JSON summary goes without."""
    context = context or PlanContext()
    plan_id = plan["id"]
    by_status = {c.status: c for c in counts if c.care_plan_id == plan_id}

    def count(status: str) -> int:
        row = by_status.get(status)
        return row.count if row else 0

    scheduled = by_status.get(SCHEDULED)
    completed = sorted(
        (s for s in sessions if s.care_plan_id == plan_id),
        key=lambda s: (s.scheduled_start, s.id),
    )
    values = sorted((m for m in measurements if m.care_plan_id == plan_id), key=lambda m: m.order)

    # The summary is validated once, as one tree of plain values (one call into pydantic's
    # core instead of one per goal, point and event); the reports' per-goal points are then
    # picked out of it.
    latest: dict[uuid.UUID, MeasuredValue] = {}
    series: dict[str, list[dict[str, Any]]] = {}
    goal_slots: dict[uuid.UUID, list[tuple[str, int]]] = {}  # goal → (measure, index) of points
    goal_values: dict[uuid.UUID, list[MeasuredValue]] = {}
    for m in values:  # oldest first: the last one seen of a goal is its latest
        points = series.setdefault(m.measure, [])
        if m.goal_id is not None:
            latest[m.goal_id] = m
            goal_slots.setdefault(m.goal_id, []).append((m.measure, len(points)))
            goal_values.setdefault(m.goal_id, []).append(m)
        points.append(
            {"at": m.at, "value": m.value, "timing": "post" if m.timing == "post" else "pre"}
        )

    techniques: dict[str, int] = {}
    for s in completed:
        for technique in set(s.techniques or ()):
            techniques[technique] = techniques.get(technique, 0) + 1
    assessments = [s.assessment for s in completed if _text(s.assessment)]
    plans = [s.plan for s in completed if _text(s.plan)]

    therapist_id = plan["primary_therapist_id"]
    summary = CarePlanSummary.model_validate(
        {
            "care_plan_id": plan_id,
            "title": plan["title"],
            "kind": plan["kind"],
            "status": plan["status"],
            "client": summary_client(client),
            "therapist": (
                context.therapists.get(therapist_id) if therapist_id is not None else None
            ),
            "referrals": context.referrals.get(plan_id, []),
            "precautions": context.precautions,
            "period": {"start": plan["start_date"], "end": plan["end_date"]},
            "sessions": {
                "planned": plan["planned_sessions"],
                "completed": count(COMPLETED),
                "cancelled": count("cancelled"),
                "no_show": count("no_show"),
                "upcoming": scheduled.ahead if scheduled else 0,
                "awaiting_signature": (
                    by_status[COMPLETED].unsigned if COMPLETED in by_status else 0
                ),
            },
            "goals": [
                _goal_progress(g, latest.get(g["id"]), goal_values.get(g["id"], []))
                for g in goals
                if g["care_plan_id"] == plan_id
            ],
            "measures": [{"measure": name, "points": points} for name, points in series.items()],
            "techniques": dict(sorted(techniques.items(), key=lambda item: (-item[1], item[0]))),
            "latest_assessment": assessments[-1] if assessments else None,
            "latest_plan": plans[-1] if plans else None,
            "adverse_events": [
                {
                    "session_id": s.id,
                    "date": s.scheduled_start.astimezone(dt.UTC).date(),
                    "description": s.adverse_event,
                }
                for s in completed
                if s.adverse_event is not None and _text(s.adverse_event)
            ],
            "generated_at": now,
        }
    )
    validated = {m.measure: m.points for m in summary.measures}
    goal_points = {
        goal_id: [validated[measure][i] for measure, i in slots]
        for goal_id, slots in goal_slots.items()
    }
    if not notes:
        return PlanProgress(summary, goal_points)
    signed = [
        SignedNote(
            session_id=s.id,
            date=s.scheduled_start.astimezone(dt.UTC).date(),
            signed_at=s.signed_at,
            signed_by=context.signers.get(s.signed_by) if s.signed_by is not None else None,
            addenda=context.addenda.get(s.id, 0),
        )
        for s in completed
    ]
    return PlanProgress(summary, goal_points, signed)


def _goal_progress(
    goal: Row, latest: MeasuredValue | None, values: Sequence[MeasuredValue]
) -> dict[str, Any]:
    """A goal's progress, as the values of a `GoalProgress`."""
    value = latest.value if latest else None
    measure, baseline, target = goal["measure"], goal["baseline_value"], goal["target_value"]
    mcid = measures.minimal_important_change(measure, goal["mcid"])
    return {
        "id": goal["id"],
        "description": goal["description"],
        "measure": measure,
        "unit": measures.goal_unit(measure, goal["unit"]),
        "baseline_value": baseline,
        "target_value": target,
        "latest_value": value,
        "latest_at": latest.at if latest else None,
        "progress_percent": progress_percent(baseline, target, value),
        "minimal_important_change": mcid,
        "clinically_important": clinically_important(measure, baseline, target, value, mcid),
        "lasting_change": lasting_change(values),
        "immediate_change": immediate_change(values),
        "status": goal["status"],
    }


def summary_client(client: Row) -> SummaryClient:
    return SummaryClient(
        id=client["id"],
        given_name=client["given_name"],
        family_name=client["family_name"],
        date_of_birth=client["date_of_birth"],
    )


# ---- loading ---------------------------------------------------------------------------------
# Core statements built once, run by `app.core.statements` (plain dict rows, no ORM objects):
# a fixed number of them per summary, whatever the number of plans, goals, sessions or
# measurements, each finding its rows through an index.

_PLAN_COLUMNS = (
    CarePlan.id,
    CarePlan.client_id,
    CarePlan.primary_therapist_id,
    CarePlan.title,
    CarePlan.kind,
    CarePlan.status,
    CarePlan.start_date,
    CarePlan.end_date,
    CarePlan.planned_sessions,
    CarePlan.archived_at,
)
PLAN = select(*_PLAN_COLUMNS).where(CarePlan.id == bindparam("plan_id"))
"""A care plan, archived or not, as a summary reads it."""

_LINK = care_plan_referrals.c
REFERRAL_PLANS = (
    select(*_PLAN_COLUMNS)
    .join(care_plan_referrals, _LINK.care_plan_id == CarePlan.id)
    .where(
        _LINK.referral_id == bindparam("referral_id"),
        CarePlan.client_id == bindparam("client_id"),
        CarePlan.archived_at.is_(None),
    )
    .order_by(CarePlan.created_at, CarePlan.id)
)
"""A referral's non-archived care plans (of its client), oldest first."""

REFERRAL = select(
    Referral.id,
    Referral.client_id,
    Referral.referring_professional_id,
    Referral.status,
    Referral.archived_at,
).where(Referral.id == bindparam("referral_id"))
"""A referral, archived or not, as its summary reads it."""

CLIENT = select(Client.id, Client.given_name, Client.family_name, Client.date_of_birth).where(
    Client.id == bindparam("client_id")
)

GOALS = (
    select(
        Goal.id,
        Goal.care_plan_id,
        Goal.description,
        Goal.measure,
        Goal.unit,
        Goal.baseline_value,
        Goal.target_value,
        Goal.mcid,
        Goal.status,
    )
    .where(statements.any_of(Goal.care_plan_id, "plan_ids"), Goal.archived_at.is_(None))
    .order_by(Goal.created_at, Goal.id)
)

# the non-archived sessions of the plans that are the client's
_SESSIONS_OF = and_(
    statements.any_of(SessionRecord.care_plan_id, "plan_ids"),
    SessionRecord.client_id == bindparam("client_id"),
    SessionRecord.archived_at.is_(None),
)
STATUS_COUNTS = (
    select(
        SessionRecord.care_plan_id,
        SessionRecord.status,
        func.count().label("sessions"),
        func.sum(case((SessionRecord.scheduled_start >= bindparam("now"), 1), else_=0)).label(
            "ahead"
        ),
        func.sum(case((SessionRecord.note_status != SIGNED, 1), else_=0)).label("unsigned"),
    )
    .where(_SESSIONS_OF)
    .group_by(SessionRecord.care_plan_id, SessionRecord.status)
)

_SIGNED_SESSIONS = and_(
    _SESSIONS_OF, SessionRecord.status == COMPLETED, SessionRecord.note_status == SIGNED
)
SIGNED_SESSIONS = (
    select(
        SessionRecord.id,
        SessionRecord.care_plan_id,
        SessionRecord.scheduled_start,
        SessionRecord.techniques,
        SessionRecord.soap["assessment"].as_string().label("assessment"),
        SessionRecord.soap["plan"].as_string().label("plan"),
        SessionRecord.adverse_event,
        SessionRecord.signed_at,
        SessionRecord.signed_by,
    )
    .where(_SIGNED_SESSIONS)
    .order_by(SessionRecord.scheduled_start, SessionRecord.id)
)

MEASUREMENTS = (
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
    .where(_SIGNED_SESSIONS, Measurement.client_id == bindparam("client_id"))
)

THERAPISTS = select(Therapist.id, Therapist.full_name, Therapist.credentials).where(
    statements.any_of(Therapist.id, "therapist_ids")
)

_PROFESSIONAL = (
    ReferringProfessional.id.label("professional_id"),
    ReferringProfessional.full_name.label("professional_full_name"),
    ReferringProfessional.discipline.label("professional_discipline"),
)
REFERRALS = (
    select(
        _LINK.care_plan_id,
        Referral.id,
        Referral.reason,
        Referral.diagnosis_codes,
        Referral.diagnosis_text,
        Referral.authorized_sessions,
        Referral.valid_until,
        *_PROFESSIONAL,
    )
    .join(Referral, Referral.id == _LINK.referral_id)
    .join(ReferringProfessional, ReferringProfessional.id == Referral.referring_professional_id)
    .where(statements.any_of(_LINK.care_plan_id, "plan_ids"), Referral.archived_at.is_(None))
    .order_by(Referral.received_on, Referral.created_at, Referral.id)
)
"""The non-archived referrals the plans answer, with their referring professionals."""

# sessions used under a referral: the completed sessions of every plan answering it
_USED_LINK = care_plan_referrals.alias("used_link")
SESSIONS_USED = (
    select(_USED_LINK.c.referral_id, func.count(func.distinct(SessionRecord.id)).label("sessions"))
    .join(SessionRecord, SessionRecord.care_plan_id == _USED_LINK.c.care_plan_id)
    .where(
        statements.any_of(_USED_LINK.c.referral_id, "referral_ids"),
        SessionRecord.client_id == bindparam("client_id"),
        SessionRecord.status == COMPLETED,
        SessionRecord.archived_at.is_(None),
    )
    .group_by(_USED_LINK.c.referral_id)
)

PRECAUTIONS = (
    select(
        Precaution.category,
        Precaution.severity,
        Precaution.body_regions,
        Precaution.cleared_on,
        *_PROFESSIONAL,
    )
    .outerjoin(
        ReferringProfessional,
        ReferringProfessional.id == Precaution.clearance_referring_professional_id,
    )
    .where(Precaution.client_id == bindparam("client_id"), Precaution.status == ACTIVE)
    .order_by(Precaution.created_at, Precaution.id)
)
"""The client's active precautions, with the professional who cleared each."""

# a note is signed by a person: a user, or a therapist through a key linked to them
SIGNERS = union_all(
    select(User.id, User.display_name.label("name")).where(
        statements.any_of(User.id, "person_ids")
    ),
    select(Therapist.id, Therapist.full_name.label("name")).where(
        statements.any_of(Therapist.id, "person_ids")
    ),
)

ADDENDA = (
    select(Addendum.session_id, func.count().label("addenda"))
    .where(statements.any_of(Addendum.session_id, "session_ids"))
    .group_by(Addendum.session_id)
)

REFERRING_PROFESSIONAL_NAME = select(ReferringProfessional.full_name).where(
    ReferringProfessional.id == bindparam("professional_id")
)


async def _summaries(
    db: AsyncSession, client: Row, plans: Sequence[Row], now: dt.datetime, *, notes: bool
) -> list[PlanProgress]:
    """The summaries of some plans of one client: a fixed number of queries, whatever the
    number of plans, goals, sessions or measurements; two more with the signatures of the
    notes (`notes`, for the reports)."""
    if not plans:
        return []
    plan_ids = [p["id"] for p in plans]
    client_id = client["id"]
    goals = await statements.fetch(db, GOALS, plan_ids=plan_ids)
    counts = [
        StatusCount(
            row["care_plan_id"],
            row["status"],
            row["sessions"],
            row["ahead"] or 0,
            row["unsigned"] or 0,
        )
        for row in await statements.fetch(
            db, STATUS_COUNTS, plan_ids=plan_ids, client_id=client_id, now=now
        )
    ]
    sessions = [
        CompletedSession(**row)
        for row in await statements.fetch(
            db, SIGNED_SESSIONS, plan_ids=plan_ids, client_id=client_id
        )
    ]
    measurements = [
        MeasuredValue(*row.values())
        for row in await statements.fetch(db, MEASUREMENTS, plan_ids=plan_ids, client_id=client_id)
    ]
    context = await _context(db, client_id, plans, sessions, notes=notes)
    return [
        summarize_care_plan(
            plan, client, goals, counts, sessions, measurements, now, context, notes=notes
        )
        for plan in plans
    ]


def _professional(row: Row) -> SummaryProfessional:
    return SummaryProfessional(
        id=row["professional_id"],
        full_name=row["professional_full_name"],
        discipline=row["professional_discipline"],
    )


async def _context(
    db: AsyncSession,
    client_id: uuid.UUID,
    plans: Sequence[Row],
    sessions: Sequence[CompletedSession],
    *,
    notes: bool,
) -> PlanContext:
    """The therapists, referrals and precautions of some plans, and with `notes` the signers
    and addenda counts of their notes: six queries at most, whatever their number."""
    plan_ids = [p["id"] for p in plans]
    therapist_ids = list(
        {p["primary_therapist_id"] for p in plans if p["primary_therapist_id"] is not None}
    )
    therapists: dict[uuid.UUID, SummaryTherapist] = {}
    if therapist_ids:
        for therapist in await statements.fetch(db, THERAPISTS, therapist_ids=therapist_ids):
            therapists[therapist["id"]] = SummaryTherapist(
                id=therapist["id"],
                full_name=therapist["full_name"],
                credentials=list(therapist["credentials"] or []),
            )

    linked = await statements.fetch(db, REFERRALS, plan_ids=plan_ids)
    used: dict[uuid.UUID, int] = {}
    if linked:
        referral_ids = list({row["id"] for row in linked})
        for row in await statements.fetch(
            db, SESSIONS_USED, referral_ids=referral_ids, client_id=client_id
        ):
            used[row["referral_id"]] = row["sessions"]
    referrals: dict[uuid.UUID, list[SummaryReferral]] = {}
    for row in linked:
        referrals.setdefault(row["care_plan_id"], []).append(
            SummaryReferral(
                id=row["id"],
                referring_professional=_professional(row),
                reason=row["reason"],
                diagnosis_codes=list(row["diagnosis_codes"] or []),
                diagnosis_text=row["diagnosis_text"],
                authorized_sessions=row["authorized_sessions"],
                sessions_used=used.get(row["id"], 0),
                valid_until=row["valid_until"],
            )
        )

    precautions = [
        SummaryPrecaution(
            category=row["category"],
            severity=row["severity"],
            body_regions=list(row["body_regions"] or []),
            cleared_on=row["cleared_on"],
            cleared_by=_professional(row) if row["professional_id"] is not None else None,
        )
        for row in await statements.fetch(db, PRECAUTIONS, client_id=client_id)
    ]

    signer_ids = list({s.signed_by for s in sessions if s.signed_by is not None} if notes else ())
    signers: dict[uuid.UUID, str] = {}
    addenda: dict[uuid.UUID, int] = {}
    if signer_ids:
        for row in await statements.fetch(db, SIGNERS, person_ids=signer_ids):
            signers.setdefault(row["id"], row["name"])
    if notes and sessions:
        for row in await statements.fetch(db, ADDENDA, session_ids=[s.id for s in sessions]):
            addenda[row["session_id"]] = row["addenda"]
    return PlanContext(therapists, referrals, precautions, signers, addenda)


async def _client(db: AsyncSession, client_id: uuid.UUID | None) -> Row:
    # a referral without a client has no summary: its dependency answers before this runs
    client = (
        await statements.fetch_one(db, CLIENT, client_id=client_id)
        if client_id is not None
        else None
    )
    if client is None:  # the foreign key makes this impossible short of a broken database
        raise LookupError(f"client {client_id} of a care plan or referral is missing")
    return client


async def care_plan_summary(
    db: AsyncSession, plan: Row, now: dt.datetime, *, notes: bool
) -> PlanProgress:
    """The summary of a plan as `PLAN` reads it; with `notes`, the signature of each note
    (for the reports)."""
    client = await _client(db, plan["client_id"])
    (progress,) = await _summaries(db, client, [plan], now, notes=notes)
    return progress


async def referral_summary(
    db: AsyncSession, referral: Row, now: dt.datetime, *, notes: bool
) -> ReferralProgress:
    """The summaries of the referral's (as `REFERRAL` reads it) non-archived care plans, oldest
    plan first; with `notes`, the signature of each note (for the reports)."""
    client = await _client(db, referral["client_id"])
    plans = await statements.fetch(
        db, REFERRAL_PLANS, referral_id=referral["id"], client_id=referral["client_id"]
    )
    progress = await _summaries(db, client, plans, now, notes=notes)
    summary = ReferralSummary(
        referral_id=referral["id"],
        referring_professional_id=referral["referring_professional_id"],
        client=summary_client(client),
        care_plans=[p.summary for p in progress],
    )
    return ReferralProgress(summary, progress)


async def referring_professional_name(db: AsyncSession, professional_id: uuid.UUID) -> str | None:
    row = await statements.fetch_one(
        db, REFERRING_PROFESSIONAL_NAME, professional_id=professional_id
    )
    return None if row is None else str(row["full_name"])


# ---- what a referrer may read ----------------------------------------------------------------

SHARED_REFERRAL_STATUSES = ("accepted", "completed")
"""The referrals whose summaries their referrer may read (CONTRACT §2)."""

CLIENT_SHARES = select(literal(1).label("shared")).where(
    clients_service.sharing_consent_is_active(
        bindparam("client_id"), bindparam("professional_id"), bindparam("today")
    )
)
"""The client holds an active `share_with_referrer` consent naming the professional."""

PLAN_SHARED = select(literal(1).label("shared")).where(
    exists().where(
        _LINK.care_plan_id == bindparam("plan_id"),
        Referral.id == _LINK.referral_id,
        Referral.referring_professional_id == bindparam("professional_id"),
        # fixed values, one parameter each: no list expanded per request
        Referral.status.in_([literal(status) for status in SHARED_REFERRAL_STATUSES]),
        Referral.archived_at.is_(None),
    ),
    clients_service.sharing_consent_is_active(
        bindparam("client_id"), bindparam("professional_id"), bindparam("today")
    ),
)
"""The plan is linked to one of the professional's own (non-archived) referrals that the clinic
accepted (`accepted` or `completed`: a pending, declined or cancelled one opens nothing), and
the client shares with that professional."""


async def client_shares_with(
    db: AsyncSession, client_id: uuid.UUID, professional_id: uuid.UUID, today: dt.date
) -> bool:
    found = await statements.fetch_one(
        db, CLIENT_SHARES, client_id=client_id, professional_id=professional_id, today=today
    )
    return found is not None


async def plan_shared_with(
    db: AsyncSession, plan: Row, professional_id: uuid.UUID, today: dt.date
) -> bool:
    """Whether the professional may read the summary of the plan (`PLAN_SHARED`)."""
    found = await statements.fetch_one(
        db,
        PLAN_SHARED,
        plan_id=plan["id"],
        client_id=plan["client_id"],
        professional_id=professional_id,
        today=today,
    )
    return found is not None
