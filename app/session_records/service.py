"""Session records: booking without double booking, screening, completion, signing, addenda."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import screening
from app.care_plans import schemas as care_plan_schemas
from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients import service as clients_service
from app.clients.models import Client, Precaution
from app.core import crud
from app.core.concurrency import storable
from app.core.db import utcnow
from app.core.errors import (
    ClientUnavailable,
    Conflict,
    ConsentRequired,
    Forbidden,
    InvalidTransition,
    ValidationFailed,
)
from app.core.pagination import PageParams
from app.core.security import Caller, Role
from app.core.transitions import StatusMachine
from app.directory.models import ReferringProfessional, Therapist
from app.referrals.models import Referral
from app.session_records import signing
from app.session_records.errors import Contraindicated, NoteSigned, TherapistUnavailable
from app.session_records.models import Addendum, Measurement, SessionRecord
from app.session_records.schemas import (
    CLINICAL_INPUT_FIELDS,
    AddendumCreate,
    MeasurementIn,
    SessionCreate,
    SessionUpdate,
)

SESSION_STATUS = StatusMachine(
    "session",
    {
        "scheduled": frozenset({"completed", "cancelled", "no_show"}),
        "completed": frozenset(),
        "cancelled": frozenset(),
        "no_show": frozenset(),
    },
)

# a plan in one of these states takes no new sessions
CLOSED_PLAN_STATUSES = frozenset({"completed", "revoked", "entered_in_error"})
# a change of one of these fields, or completing the session, runs the screening again
SCREENED_FIELDS = frozenset({"scheduled_start", "therapist_id", "body_regions", "session_type"})
BOOKING_FIELDS = frozenset({"scheduled_start", "duration_minutes", "therapist_id"})
FRONT_DESK_STATUSES = frozenset({"scheduled", "cancelled", "no_show"})


CHILDREN = (selectinload(SessionRecord.measurements), selectinload(SessionRecord.addenda))


def with_children(stmt: Select[Any]) -> Select[Any]:
    """Sessions are always read with their measurements and addenda: two more queries a page."""
    return stmt.options(*CHILDREN)


async def get_session(
    db: AsyncSession, session_id: uuid.UUID, *, include_archived: bool = False
) -> SessionRecord:
    return await crud.get_or_404(
        db,
        SessionRecord,
        session_id,
        include_archived=include_archived,
        what="session",
        options=CHILDREN,
    )


@dataclass(frozen=True, slots=True)
class SessionFilters:
    client_id: uuid.UUID | None = None
    care_plan_id: uuid.UUID | None = None
    therapist_id: uuid.UUID | None = None
    status: str | None = None
    start_from: dt.datetime | None = None
    start_to: dt.datetime | None = None
    include_archived: bool = False


async def list_sessions(
    db: AsyncSession, filters: SessionFilters, page: PageParams
) -> list[SessionRecord]:
    conditions: list[ColumnElement[bool]] = []
    if filters.client_id is not None:
        conditions.append(SessionRecord.client_id == filters.client_id)
    if filters.care_plan_id is not None:
        conditions.append(SessionRecord.care_plan_id == filters.care_plan_id)
    if filters.therapist_id is not None:
        conditions.append(SessionRecord.therapist_id == filters.therapist_id)
    if filters.status is not None:
        conditions.append(SessionRecord.status == filters.status)
    if filters.start_from is not None:
        conditions.append(SessionRecord.scheduled_start >= filters.start_from)
    if filters.start_to is not None:
        conditions.append(SessionRecord.scheduled_start < filters.start_to)
    return await crud.list_page(
        db,
        SessionRecord,
        page,
        *conditions,
        include_archived=filters.include_archived,
        stmt=with_children(select(SessionRecord)),
    )


# ---- who may write what ------------------------------------------------------------------------


def authorize_fields(
    caller: Caller,
    fields: dict[str, Any],
    target_status: str | None,
    session: SessionRecord | None = None,
) -> None:
    """The front desk books, moves, cancels and marks no-shows; it never writes the clinical
    note, never completes a session, and a completed session is not its to change at all."""
    if caller.role is not Role.front_desk:
        return
    clinical = sorted(set(fields) & CLINICAL_INPUT_FIELDS)
    if clinical:
        raise Forbidden(f"The front desk may not write clinical fields: {', '.join(clinical)}")
    if target_status is not None and target_status not in FRONT_DESK_STATUSES:
        raise Forbidden("Only clinical staff complete sessions")
    if session is not None and session.status == "completed":
        changed = sorted(name for name, value in fields.items() if getattr(session, name) != value)
        if changed:
            raise Forbidden(
                "A completed session is not the front desk's to move, reassign or change: "
                + ", ".join(changed)
            )


def authorize_note(caller: Caller, therapist_id: uuid.UUID, fields: set[str]) -> None:
    """The clinical note is written by the session's own therapist or an admin."""
    clinical = sorted(fields & CLINICAL_INPUT_FIELDS)
    if not clinical or caller.role is not Role.therapist:
        return
    if caller.therapist_id != therapist_id:
        raise Forbidden(
            "Only the session's own therapist or an admin may write its note: "
            + ", ".join(clinical)
        )


def authorize_own_note(caller: Caller, session: SessionRecord, what: str) -> None:
    if caller.role is Role.admin:
        return
    if caller.role is Role.therapist and caller.therapist_id == session.therapist_id:
        return
    raise Forbidden(f"Only the session's own therapist or an admin may {what}")


def signer_of(caller: Caller, session: SessionRecord) -> uuid.UUID:
    """Who attests the note: the session's own therapist (a user, or a key linked to that
    therapist) or an admin user. `signed_by` holds the user's id, or for a therapist's API key
    the therapist's id. An admin API key is no person and may not sign."""
    if caller.role is Role.therapist and caller.therapist_id == session.therapist_id:
        if caller.actor_type == "user":
            return caller.actor_id
        return session.therapist_id
    if caller.role is Role.admin and caller.actor_type == "user":
        return caller.actor_id
    if caller.role is Role.admin:
        raise Forbidden("An API key is no person: an admin user or the session's therapist signs")
    raise Forbidden("Only the session's own therapist or an admin user may sign its note")


# ---- creating and changing ---------------------------------------------------------------------


async def create_session(db: AsyncSession, data: SessionCreate, caller: Caller) -> SessionRecord:
    fields = data.model_dump(exclude_unset=True)
    authorize_fields(caller, fields, data.status)
    authorize_note(caller, data.therapist_id, set(fields))
    client = await db.get(Client, data.client_id)
    if client is None or client.archived_at is not None:
        raise ValidationFailed.field(["body", "client_id"], "no such client")
    values = storable(data, exclude={"measurements"})
    session = SessionRecord(id=uuid.uuid4(), **values, note_status="draft")
    session.scheduled_end = session.scheduled_start + dt.timedelta(minutes=session.duration_minutes)
    plan = await _check_plan(db, session)
    therapist = await _lock_therapist(db, session.therapist_id)
    await _lock_client(db, session.client_id)
    await _check_adjacent(db, data.adjacent_appointment)
    await _check_availability(db, session)
    completing = session.status == "completed"
    if completing:
        _check_completion_time(session, None)
    session.warnings = await _screen(db, session, client, therapist, plan, completing=completing)
    session.measurements = await _measurements(db, session, data.measurements)
    session.addenda = []
    db.add(session)
    await db.flush()
    return session


async def update_session(
    db: AsyncSession,
    session: SessionRecord,
    patch: SessionUpdate,
    expected_version: int,
    caller: Caller,
) -> SessionRecord:
    """The shared merge-patch under `If-Match`, with the session's rules as its `apply` step."""
    ensure_unsigned(session)

    async def apply(row: SessionRecord, changes: dict[str, Any]) -> None:
        await _apply_update(db, row, patch, changes, caller)

    return await crud.patch(db, session, patch, expected_version, apply=apply)


async def _apply_update(
    db: AsyncSession,
    session: SessionRecord,
    patch: SessionUpdate,
    changes: dict[str, Any],
    caller: Caller,
) -> None:
    target_status = changes.get("status")
    authorize_fields(caller, changes, target_status, session)
    authorize_note(caller, session.therapist_id, set(changes))
    if target_status is not None:
        SESSION_STATUS.check(session.status, target_status)
    stored_status = session.status
    was_completed = stored_status == "completed"
    if was_completed and changes.get("therapist_id", session.therapist_id) != session.therapist_id:
        raise InvalidTransition(
            "A completed session's therapist never changes", current_status=session.status
        )
    measurements = patch.measurements if "measurements" in changes else None
    changes = {name: value for name, value in changes.items() if name != "measurements"}
    for name, value in changes.items():
        setattr(session, name, value)
    session.scheduled_end = session.scheduled_start + dt.timedelta(minutes=session.duration_minutes)
    plan = await _check_plan(db, session) if "care_plan_id" in changes else None
    if "adjacent_appointment" in changes:
        await _check_adjacent(db, patch.adjacent_appointment)
    rebook = bool(BOOKING_FIELDS & set(changes)) and session.status != "cancelled"
    completing = target_status == "completed" and not was_completed
    if session.status == "completed" and (completing or "scheduled_start" in changes):
        _check_completion_time(session, stored_status)
    therapist = None
    if rebook or SCREENED_FIELDS & set(changes) or completing:
        therapist = await _lock_therapist(db, session.therapist_id)
    if rebook:
        await _lock_client(db, session.client_id)
        await _check_availability(db, session)
    if therapist is not None:
        client = await db.get(Client, session.client_id)
        assert client is not None
        if plan is None and session.care_plan_id is not None:
            plan = await db.get(CarePlan, session.care_plan_id)
        session.warnings = await _screen(
            db, session, client, therapist, plan, completing=completing
        )
    if measurements is not None:
        session.measurements = await _measurements(db, session, measurements)
    elif "care_plan_id" in changes:
        await _check_goal_links(db, session, session.measurements)
    session.updated_at = utcnow()


async def archive_session(db: AsyncSession, session: SessionRecord, caller: Caller) -> None:
    ensure_unsigned(session)
    if caller.role is Role.front_desk and session.status == "completed":
        raise Forbidden("A completed session is not the front desk's to archive")
    await crud.archive(db, session)


def ensure_unsigned(session: SessionRecord) -> None:
    """Every write path to a session passes here first: a signed note never changes."""
    if session.note_status == "signed":
        raise NoteSigned()


async def sign_session(db: AsyncSession, session: SessionRecord, caller: Caller) -> SessionRecord:
    ensure_unsigned(session)
    signer = signer_of(caller, session)
    if session.status != "completed":
        raise Conflict("Only a completed session's note can be signed")
    session.note_status = "signed"
    session.signed_at = utcnow()
    session.signed_by = signer
    session.content_sha256 = signing.content_sha256(session)
    await db.flush()
    return session


async def add_addendum(
    db: AsyncSession, session: SessionRecord, data: AddendumCreate, caller: Caller
) -> Addendum:
    """Addenda are appended, attributed and timestamped; the note itself stays as signed.
    An unsigned note is edited directly, so it takes no addenda."""
    authorize_own_note(caller, session, "amend its note")
    if session.note_status != "signed":
        raise Conflict("Addenda belong to signed notes; edit an unsigned note directly")
    addendum = Addendum(
        id=uuid.uuid4(),
        session_id=session.id,
        author_type=caller.actor_type,
        author_id=caller.actor_id,
        text=data.text,
        reason=data.reason,
        created_at=utcnow(),
    )
    db.add(addendum)
    await db.flush()
    return addendum


# ---- the checks --------------------------------------------------------------------------------


async def _check_plan(db: AsyncSession, session: SessionRecord) -> CarePlan | None:
    if session.care_plan_id is None:
        return None
    plan = await db.get(CarePlan, session.care_plan_id)
    if plan is None or plan.archived_at is not None or plan.client_id != session.client_id:
        raise ValidationFailed.field(["body", "care_plan_id"], "no such care plan for this client")
    if plan.status in CLOSED_PLAN_STATUSES:
        raise Conflict(f"The care plan is {plan.status} and takes no sessions")
    return plan


async def _lock_therapist(db: AsyncSession, therapist_id: uuid.UUID) -> Therapist:
    """Loads the therapist FOR UPDATE: bookings for one therapist queue here, so the overlap
    check and the insert that follows it cannot interleave (SQLite: its write lock does it)."""
    therapist = await db.scalar(
        select(Therapist).where(Therapist.id == therapist_id).with_for_update()
    )
    if therapist is None or therapist.archived_at is not None:
        raise ValidationFailed.field(["body", "therapist_id"], "no such therapist")
    if not therapist.active:
        raise ValidationFailed.field(["body", "therapist_id"], "the therapist is not active")
    return therapist


async def _lock_client(db: AsyncSession, client_id: uuid.UUID) -> None:
    """Locks the client's row FOR UPDATE, as `_lock_therapist` does the therapist's: bookings
    for one client queue here (always after the therapist's lock, so two bookings never wait
    for each other in a circle; SQLite: its write lock does it)."""
    await db.execute(select(Client.id).where(Client.id == client_id).with_for_update())


async def _overlapping(
    db: AsyncSession, session: SessionRecord, owner: ColumnElement[bool]
) -> uuid.UUID | None:
    """A non-cancelled session of the same owner (therapist or client) whose interval overlaps
    this one's; intervals that only touch (one ends as the other starts) do not overlap."""
    clash: uuid.UUID | None = await db.scalar(
        select(SessionRecord.id)
        .where(
            owner,
            SessionRecord.status != "cancelled",
            SessionRecord.archived_at.is_(None),
            SessionRecord.scheduled_start < session.scheduled_end,
            SessionRecord.scheduled_end > session.scheduled_start,
            SessionRecord.id != session.id,
        )
        .limit(1)
    )
    return clash


async def _check_availability(db: AsyncSession, session: SessionRecord) -> None:
    if session.status == "cancelled":
        return
    clash = await _overlapping(db, session, SessionRecord.therapist_id == session.therapist_id)
    if clash is not None:
        raise TherapistUnavailable(
            f"The therapist already has session {clash} at that time",
            conflicting_session_id=str(clash),
        )
    clash = await _overlapping(db, session, SessionRecord.client_id == session.client_id)
    if clash is not None:
        raise ClientUnavailable(
            f"The client already has session {clash} at that time",
            conflicting_session_id=str(clash),
        )


def _check_completion_time(session: SessionRecord, stored_status: str | None) -> None:
    """A session is completed only once it has begun. `stored_status` is the status the session
    is in (the problem's `current_status`), None for one being created."""
    if session.scheduled_start > utcnow():
        current = {} if stored_status is None else {"current_status": stored_status}
        raise InvalidTransition(
            "A session cannot be completed before its scheduled start "
            f"({session.scheduled_start.isoformat()})",
            **current,
        )


async def _check_adjacent(db: AsyncSession, adjacent: Any) -> None:
    if adjacent is None:
        return
    found = await db.get(ReferringProfessional, adjacent.referring_professional_id)
    if found is None or found.archived_at is not None:
        raise ValidationFailed.field(
            ["body", "adjacent_appointment", "referring_professional_id"],
            "no such referring professional",
        )


async def _screen(
    db: AsyncSession,
    session: SessionRecord,
    client: Client,
    therapist: Therapist,
    plan: CarePlan | None,
    *,
    completing: bool = False,
) -> list[dict[str, Any]]:
    """Screens the session; completing it needs an active `treatment` consent (409
    `consent-required`), booking without one gives the warning `no_treatment_consent`."""
    consented = await clients_service.has_treatment_consent(db, client.id, clients_service.today())
    if completing and not consented:
        raise ConsentRequired(
            "Completing a session needs the client's active treatment consent; record it first"
        )
    precautions = (
        await db.scalars(
            select(Precaution).where(
                Precaution.client_id == client.id, Precaution.status == "active"
            )
        )
    ).all()
    referrals = await _referral_facts(db, session, plan)
    result = screening.screen_session(
        screening.ClientFacts(
            pregnancy_due_date=client.pregnancy_due_date, treatment_consent=consented
        ),
        [
            screening.PrecautionFacts(
                id=p.id,
                category=p.category,
                severity=p.severity,
                body_regions=frozenset(p.body_regions),
                status=p.status,
                requires_clearance=p.requires_clearance,
                cleared=p.clearance_referring_professional_id is not None,
            )
            for p in precautions
        ],
        screening.TherapistFacts(
            id=therapist.id,
            license_expires_on=therapist.license_expires_on,
            certifications=frozenset(therapist.certifications),
        ),
        screening.ProposedSession(
            start=session.scheduled_start,
            duration_minutes=session.duration_minutes,
            body_regions=frozenset(session.body_regions),
            session_type=session.session_type,
        ),
        referrals,
    )
    warnings = [w.as_dict() for w in result.warnings]
    if result.blocked:
        raise Contraindicated([b.as_problem_item() for b in result.blocking], warnings)
    return warnings


async def _referral_facts(
    db: AsyncSession, session: SessionRecord, plan: CarePlan | None
) -> list[screening.ReferralFacts]:
    if plan is None:
        return []
    referrals = (
        await db.scalars(
            select(Referral)
            .join(care_plan_referrals, care_plan_referrals.c.referral_id == Referral.id)
            .where(care_plan_referrals.c.care_plan_id == plan.id, Referral.archived_at.is_(None))
        )
    ).all()
    if not referrals:
        return []
    # sessions booked under each referral: every non-cancelled session of the plans it covers
    booked = await db.execute(
        select(care_plan_referrals.c.referral_id, func.count(SessionRecord.id))
        .join(SessionRecord, SessionRecord.care_plan_id == care_plan_referrals.c.care_plan_id)
        .where(
            care_plan_referrals.c.referral_id.in_([r.id for r in referrals]),
            SessionRecord.status != "cancelled",
            SessionRecord.archived_at.is_(None),
            SessionRecord.id != session.id,
        )
        .group_by(care_plan_referrals.c.referral_id)
    )
    counts: dict[uuid.UUID, int] = {row[0]: row[1] for row in booked.all()}
    this_one = 0 if session.status == "cancelled" else 1
    return [
        screening.ReferralFacts(
            id=r.id,
            valid_until=r.valid_until,
            authorized_sessions=r.authorized_sessions,
            sessions_booked=counts.get(r.id, 0) + this_one,
        )
        for r in referrals
    ]


async def _measurements(
    db: AsyncSession, session: SessionRecord, items: Sequence[MeasurementIn]
) -> list[Measurement]:
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        problem = care_plan_schemas.check_measure_value(item.measure, item.value)
        if problem:
            errors.append({"loc": ["body", "measurements", index, "value"], "msg": problem})
    if errors:
        raise ValidationFailed("A measurement is out of its measure's range", errors)
    await _check_goal_links(db, session, items)
    return [
        Measurement(
            id=uuid.uuid4(),
            client_id=session.client_id,
            goal_id=item.goal_id,
            position=index,
            measure=item.measure,
            value=item.value,
            unit=item.unit,
            timing=item.timing,
            created_at=utcnow(),
        )
        for index, item in enumerate(items)
    ]


async def _check_goal_links(db: AsyncSession, session: SessionRecord, items: Sequence[Any]) -> None:
    """A measurement against a goal must use the goal's measure and the session's plan."""
    goal_ids = {item.goal_id for item in items if item.goal_id is not None}
    if not goal_ids:
        return
    goals = {g.id: g for g in (await db.scalars(select(Goal).where(Goal.id.in_(goal_ids)))).all()}
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item.goal_id is None:
            continue
        goal = goals.get(item.goal_id)
        loc: list[str | int] = ["body", "measurements", index, "goal_id"]
        if goal is None or goal.archived_at is not None:
            errors.append({"loc": loc, "msg": "no such goal"})
        elif session.care_plan_id is None or goal.care_plan_id != session.care_plan_id:
            errors.append({"loc": loc, "msg": "the goal belongs to another care plan"})
        elif goal.measure != item.measure:
            errors.append(
                {
                    "loc": ["body", "measurements", index, "measure"],
                    "msg": f"the goal is measured with {goal.measure}, not {item.measure}",
                }
            )
    if errors:
        raise ValidationFailed("A measurement does not fit its goal", errors)
