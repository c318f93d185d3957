"""Loading what the FHIR facade shows: a fixed number of queries per request, whatever the
number of rows. Archived rows (and the rows of an archived plan or session) are not shown."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients import service as clients_service
from app.clients.models import Client
from app.core.pagination import PageParams, encode_cursor, paginate_by
from app.directory.models import ReferringProfessional, Therapist
from app.fhir.mapping import (
    CarePlanSource,
    FhirResource,
    GoalSource,
    ObservationSource,
    reference_targets,
)
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord

AnySelect = Select[*tuple[Any, ...]]

# ---- who may see what: one predicate per resource type ------------------------------------------


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose eyes a FHIR answer is for. The clinic's staff (`professional_id` None) see every
    record that is not archived and belongs to no archived client; a referrer sees exactly what
    its summaries disclose (`visible`)."""

    professional_id: uuid.UUID | None
    today: dt.date

    @property
    def is_referrer(self) -> bool:
        return self.professional_id is not None


# a referral opens the record only once the clinic accepted it (a `pending` one opens nothing)
SHARED_REFERRAL_STATUSES = ("accepted", "completed")


def _shared_referrals(professional_id: uuid.UUID, today: dt.date) -> ColumnElement[bool]:
    """The professional's own accepted or completed referrals of clients who hold an active
    `share_with_referrer` consent naming it: the referrals whose summaries it may read."""
    return and_(
        Referral.referring_professional_id == professional_id,
        Referral.status.in_(SHARED_REFERRAL_STATUSES),
        Referral.archived_at.is_(None),
        clients_service.sharing_consent_is_active(Referral.client_id, professional_id, today),
    )


def _visible_client_ids(reader: Reader) -> AnySelect:
    stmt = select(Client.id).where(Client.archived_at.is_(None))
    if reader.professional_id is not None:
        shared = select(Referral.client_id).where(
            _shared_referrals(reader.professional_id, reader.today)
        )
        stmt = stmt.where(Client.id.in_(shared))
    return stmt


def _visible_plan_ids(reader: Reader) -> AnySelect:
    return select(CarePlan.id).where(visible(reader, "CarePlan"))


def _visible_session_ids(reader: Reader) -> AnySelect:
    return select(SessionRecord.id).where(visible(reader, "Encounter"))


def visible(reader: Reader, resource_type: str) -> ColumnElement[bool]:
    """The rows of `resource_type`'s table the reader may see, as a condition on that table
    (Practitioner: on `Therapist`; `visible_practitioner` covers both of its tables)."""
    referrer = reader.professional_id
    if resource_type == "Patient":
        return Client.id.in_(_visible_client_ids(reader))
    if resource_type == "Practitioner":
        return false() if referrer is not None else Therapist.archived_at.is_(None)
    if resource_type == "ServiceRequest":
        condition = and_(
            Referral.archived_at.is_(None), Referral.client_id.in_(_visible_client_ids(reader))
        )
        if referrer is not None:
            condition = and_(condition, _shared_referrals(referrer, reader.today))
        return condition
    if resource_type == "CarePlan":
        condition = and_(
            CarePlan.archived_at.is_(None), CarePlan.client_id.in_(_visible_client_ids(reader))
        )
        if referrer is not None:
            link = care_plan_referrals.c
            linked = (
                select(link.care_plan_id)
                .join(Referral, Referral.id == link.referral_id)
                .where(_shared_referrals(referrer, reader.today))
            )
            condition = and_(condition, CarePlan.id.in_(linked))
        return condition
    if resource_type == "Goal":
        return and_(Goal.archived_at.is_(None), Goal.care_plan_id.in_(_visible_plan_ids(reader)))
    if resource_type == "Encounter":
        condition = and_(
            SessionRecord.archived_at.is_(None),
            SessionRecord.client_id.in_(_visible_client_ids(reader)),
        )
        if referrer is not None:
            # a referrer sees the signed sessions of the plans linked to its referrals
            condition = and_(
                condition,
                SessionRecord.care_plan_id.in_(_visible_plan_ids(reader)),
                SessionRecord.note_status == "signed",
            )
        return condition
    if resource_type == "Observation":
        return Measurement.session_id.in_(_visible_session_ids(reader))
    raise LookupError(f"no FHIR resource type {resource_type}")


def visible_professional(reader: Reader) -> ColumnElement[bool]:
    """Practitioner's second table: referring professionals, for the clinic's staff only."""
    if reader.professional_id is not None:
        return false()
    return ReferringProfessional.archived_at.is_(None)


ID_COLUMNS: dict[str, Any] = {
    "Patient": Client.id,
    "Practitioner": Therapist.id,
    "ServiceRequest": Referral.id,
    "CarePlan": CarePlan.id,
    "Goal": Goal.id,
    "Encounter": SessionRecord.id,
    "Observation": Measurement.id,
}


async def is_visible(
    db: AsyncSession, reader: Reader, resource_type: str, row_id: uuid.UUID
) -> bool:
    return bool(await visible_ids(db, reader, resource_type, [row_id]))


async def visible_ids(
    db: AsyncSession, reader: Reader, resource_type: str, row_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these ids of `resource_type` the reader may see: one query (two for
    Practitioner, which spans two tables)."""
    if not row_ids:
        return set()
    column = ID_COLUMNS[resource_type]
    found = set(
        await db.scalars(select(column).where(column.in_(row_ids), visible(reader, resource_type)))
    )
    if resource_type == "Practitioner" and reader.professional_id is None:
        found |= set(
            await db.scalars(
                select(ReferringProfessional.id).where(
                    ReferringProfessional.id.in_(row_ids), visible_professional(reader)
                )
            )
        )
    return found


async def visible_references(
    db: AsyncSession, reader: Reader, resources: Sequence[FhirResource]
) -> set[str]:
    """Of every `Type/id` these resources refer to, the ones the reader may read: one query per
    referenced type, whatever the number of resources."""
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for resource in resources:
        for target in reference_targets(resource):
            resource_type, _, raw_id = target.partition("/")
            try:
                wanted[resource_type].add(uuid.UUID(raw_id))
            except ValueError:
                continue
    found: set[str] = set()
    for resource_type, ids in wanted.items():
        if resource_type not in ID_COLUMNS:
            continue
        for row_id in await visible_ids(db, reader, resource_type, sorted(ids)):
            found.add(f"{resource_type}/{row_id}")
    return found


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


# ---- searches ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateBound:
    """One `birthdate` criterion: a FHIR prefix and the range of days its value names."""

    prefix: str  # eq, ne, gt, lt, ge, le
    first: dt.date
    last: dt.date


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a search asks for, parsed. `matches_nothing` is set for a criterion no row can meet
    (an id that is none of ours, an identifier of another system)."""

    ids: tuple[uuid.UUID, ...] | None = None  # `_id`
    patient: uuid.UUID | None = None
    names: tuple[str, ...] = ()
    birthdates: tuple[DateBound, ...] = ()
    matches_nothing: bool = False


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a search: the rows, the number of all matches and the next page's cursor."""

    rows: list[Any]
    total: int
    next_cursor: str | None


def _starts_with(column: Any, text: str) -> ColumnElement[bool]:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"{escaped}%", escape="\\")


def _birth_date(bound: DateBound) -> ColumnElement[bool]:
    born = Client.date_of_birth
    if bound.prefix == "ge":
        return born >= bound.first
    if bound.prefix == "gt":
        return born > bound.last
    if bound.prefix == "le":
        return born <= bound.last
    if bound.prefix == "lt":
        return born < bound.first
    within = and_(born >= bound.first, born <= bound.last)
    return not_(within) if bound.prefix == "ne" else within


def _observation_time() -> Any:
    """When a measurement was taken: before the massage at the session's start, after it at
    its end (the Observation's `effectiveDateTime`)."""
    return case(
        (Measurement.timing == "post", SessionRecord.scheduled_end),
        else_=SessionRecord.scheduled_start,
    )


def _search_statement(
    reader: Reader, resource_type: str, criteria: Criteria
) -> tuple[AnySelect, tuple[Any, Any], Any]:
    """The statement of a search, its keyset order (time order) and the patient column."""
    if resource_type == "Patient":
        stmt: AnySelect = select(Client)
        keyset: tuple[Any, Any] = (Client.created_at, Client.id)
        patient_column: Any = Client.id
        for name in criteria.names:
            full = Client.given_name + " " + Client.family_name
            stmt = stmt.where(
                or_(
                    _starts_with(Client.given_name, name),
                    _starts_with(Client.family_name, name),
                    _starts_with(full, name),
                )
            )
        for bound in criteria.birthdates:
            stmt = stmt.where(_birth_date(bound))
    elif resource_type == "CarePlan":
        stmt = select(CarePlan)
        keyset = (CarePlan.created_at, CarePlan.id)
        patient_column = CarePlan.client_id
    elif resource_type == "Encounter":
        stmt = select(SessionRecord)
        keyset = (SessionRecord.scheduled_start, SessionRecord.id)
        patient_column = SessionRecord.client_id
    elif resource_type == "Observation":
        stmt = _observations()
        keyset = (_observation_time(), Measurement.id)
        patient_column = Measurement.client_id
    else:
        raise LookupError(f"no search of {resource_type}")
    stmt = stmt.where(visible(reader, resource_type))
    if criteria.ids is not None:
        stmt = stmt.where(ID_COLUMNS[resource_type].in_(criteria.ids))
    if criteria.patient is not None:
        stmt = stmt.where(patient_column == criteria.patient)
    return stmt, keyset, patient_column


async def search(
    db: AsyncSession, reader: Reader, resource_type: str, criteria: Criteria, page: PageParams
) -> SearchPage:
    """The number of matches and (unless it is zero or no rows are asked for) one page in time
    order: two queries, and a fixed few more to load what a page of CarePlans points at."""
    if criteria.matches_nothing:
        return SearchPage([], 0, None)
    stmt, keyset, _ = _search_statement(reader, resource_type, criteria)
    count = stmt.with_only_columns(func.count(), maintain_column_froms=True)
    total = await db.scalar(count) or 0
    if total == 0 or page.limit == 0:
        return SearchPage([], total, None)
    width = len(stmt.column_descriptions)
    rows = list((await db.execute(paginate_by(stmt.add_columns(*keyset), *keyset, page))).all())
    cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        cursor = encode_cursor(last[-2], last[-1])
    if resource_type == "Observation":
        return SearchPage([_observation_source(row[:width]) for row in rows], total, cursor)
    found = [row[0] for row in rows]
    if resource_type == "CarePlan":
        found = await care_plan_sources(db, found)
    return SearchPage(found, total, cursor)
