"""Care plans, the referrals they answer, and their measurable goals."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.care_plans.schemas import (
    CarePlanCreate,
    CarePlanStatus,
    CarePlanUpdate,
    CoordinatedCare,
    GoalCreate,
    GoalStatus,
    GoalUpdate,
    Measure,
    check_measure_value,
)
from app.core import crud
from app.core.concurrency import check_version
from app.core.db import utcnow
from app.core.errors import NotFound, ValidationFailed
from app.core.pagination import PageParams
from app.core.transitions import StatusMachine
from app.directory.models import ReferringProfessional, Therapist
from app.referrals import service as referrals_service
from app.referrals.models import Referral

S = CarePlanStatus

# FHIR CarePlan's life cycle; any plan may be marked entered_in_error
CARE_PLAN_STATUS = StatusMachine(
    resource="care plan",
    moves={
        S.draft: frozenset({S.active, S.revoked}),
        S.active: frozenset({S.on_hold, S.completed, S.revoked}),
        S.on_hold: frozenset({S.active, S.completed, S.revoked}),
        S.completed: frozenset(),
        S.revoked: frozenset(),
        S.entered_in_error: frozenset(),
    },
    from_any=frozenset({S.entered_in_error}),
)


@dataclass(frozen=True, slots=True)
class CarePlanFilters:
    client_id: uuid.UUID | None = None
    status: CarePlanStatus | None = None
    primary_therapist_id: uuid.UUID | None = None
    include_archived: bool = False


# ---- referral links --------------------------------------------------------------------------


async def referral_ids_of(
    db: AsyncSession, care_plan_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The referrals of each plan, oldest referral first, in one query for any number of plans."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {plan_id: [] for plan_id in care_plan_ids}
    if not care_plan_ids:
        return out
    link = care_plan_referrals.c
    rows = await db.execute(
        select(link.care_plan_id, link.referral_id)
        .join(Referral, Referral.id == link.referral_id)
        .where(link.care_plan_id.in_(list(care_plan_ids)))
        .order_by(Referral.created_at, Referral.id)
    )
    for plan_id, referral_id in rows:
        out[plan_id].append(referral_id)
    return out


async def _check_referrals(
    db: AsyncSession,
    client_id: uuid.UUID,
    referral_ids: list[uuid.UUID],
    already_linked: Sequence[uuid.UUID] = (),
) -> None:
    """Each referral exists and is the same client's. One already linked to the plan may have
    been archived since: keeping it is not a new link."""
    if not referral_ids:
        return
    found = {
        row.id: row
        for row in await db.execute(
            select(Referral.id, Referral.client_id, Referral.archived_at).where(
                Referral.id.in_(referral_ids)
            )
        )
    }
    errors: list[dict[str, Any]] = []
    for index, referral_id in enumerate(referral_ids):
        row = found.get(referral_id)
        loc: list[str | int] = ["body", "referral_ids", index]
        if row is None or (row.archived_at is not None and referral_id not in already_linked):
            errors.append({"loc": loc, "msg": "no such referral"})
        elif row.client_id != client_id:
            errors.append({"loc": loc, "msg": "this referral is for another client"})
    if errors:
        raise ValidationFailed("A referral of the plan is not valid", errors)


async def _link_referrals(
    db: AsyncSession, care_plan_id: uuid.UUID, referral_ids: list[uuid.UUID]
) -> None:
    if referral_ids:
        await db.execute(
            insert(care_plan_referrals),
            [{"care_plan_id": care_plan_id, "referral_id": rid} for rid in referral_ids],
        )


# ---- other references ------------------------------------------------------------------------


async def _check_therapist(db: AsyncSession, therapist_id: uuid.UUID) -> None:
    found = await db.scalar(
        select(Therapist.id).where(Therapist.id == therapist_id, Therapist.archived_at.is_(None))
    )
    if found is None:
        raise ValidationFailed.field(["body", "primary_therapist_id"], "no such therapist")


async def _check_coordinated_care(
    db: AsyncSession, entries: list[CoordinatedCare], already_named: Sequence[str] = ()
) -> None:
    """Each named referring professional exists (or was named by the plan already)."""
    wanted = {e.referring_professional_id for e in entries if e.referring_professional_id}
    wanted -= {uuid.UUID(rp_id) for rp_id in already_named}
    if not wanted:
        return
    found = set(
        await db.scalars(
            select(ReferringProfessional.id).where(
                ReferringProfessional.id.in_(wanted), ReferringProfessional.archived_at.is_(None)
            )
        )
    )
    errors: list[dict[str, Any]] = [
        {
            "loc": ["body", "coordinated_care", index, "referring_professional_id"],
            "msg": "no such referring professional",
        }
        for index, entry in enumerate(entries)
        if entry.referring_professional_id in wanted - found
    ]
    if errors:
        raise ValidationFailed("A coordinated-care entry is not valid", errors)


def _coordinated_care_json(entries: list[CoordinatedCare]) -> list[dict[str, Any]]:
    return [entry.model_dump(mode="json") for entry in entries]


def _named_professionals(stored: list[dict[str, Any]]) -> list[str]:
    return [
        str(e["referring_professional_id"]) for e in stored if e.get("referring_professional_id")
    ]


# ---- care plans ------------------------------------------------------------------------------


def _check_period(start: dt.date | None, end: dt.date | None, blame: str) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationFailed.field(["body", blame], "end_date is before start_date")


async def create_care_plan(db: AsyncSession, data: CarePlanCreate) -> CarePlan:
    _check_period(data.start_date, data.end_date, "end_date")
    await referrals_service.require_client(db, data.client_id, ["body", "client_id"])
    if data.primary_therapist_id is not None:
        await _check_therapist(db, data.primary_therapist_id)
    await _check_coordinated_care(db, data.coordinated_care)
    await _check_referrals(db, data.client_id, data.referral_ids)
    plan = CarePlan(
        **data.model_dump(exclude={"referral_ids", "coordinated_care"}),
        coordinated_care=_coordinated_care_json(data.coordinated_care),
    )
    db.add(plan)
    await db.flush()
    await _link_referrals(db, plan.id, data.referral_ids)
    return plan


async def list_care_plans(
    db: AsyncSession, filters: CarePlanFilters, page: PageParams
) -> list[CarePlan]:
    conditions: list[ColumnElement[bool]] = []
    if filters.client_id is not None:
        conditions.append(CarePlan.client_id == filters.client_id)
    if filters.status is not None:
        conditions.append(CarePlan.status == filters.status.value)
    if filters.primary_therapist_id is not None:
        conditions.append(CarePlan.primary_therapist_id == filters.primary_therapist_id)
    return await crud.list_page(
        db, CarePlan, page, *conditions, include_archived=filters.include_archived
    )


async def update_care_plan(
    db: AsyncSession, plan: CarePlan, patch: CarePlanUpdate, expected_version: int
) -> tuple[CarePlan, list[uuid.UUID]]:
    """Applies the merge-patch; returns the plan and its referral ids after the change."""
    check_version(plan.version, expected_version)
    changes = patch.changes()
    if "status" in changes:
        CARE_PLAN_STATUS.check(plan.status, str(changes["status"]))
    _check_period(
        changes.get("start_date", plan.start_date),
        changes.get("end_date", plan.end_date),
        "end_date" if "end_date" in changes else "start_date",
    )
    therapist_id = changes.get("primary_therapist_id")
    if therapist_id is not None and therapist_id != plan.primary_therapist_id:
        await _check_therapist(db, therapist_id)
    if patch.coordinated_care is not None:
        named = _named_professionals(plan.coordinated_care)
        await _check_coordinated_care(db, patch.coordinated_care, named)
        changes["coordinated_care"] = _coordinated_care_json(patch.coordinated_care)

    linked = (await referral_ids_of(db, [plan.id]))[plan.id]
    changes.pop("referral_ids", None)
    wanted = patch.referral_ids  # None when not sent: null is refused for it
    relinked = wanted is not None and set(wanted) != set(linked)
    if wanted is not None and relinked:
        await _check_referrals(db, plan.client_id, wanted, already_linked=linked)
        await db.execute(
            delete(care_plan_referrals).where(care_plan_referrals.c.care_plan_id == plan.id)
        )
        await _link_referrals(db, plan.id, wanted)
        # the links live in their own table: touching the row makes the change a new version
        changes["updated_at"] = utcnow()
    plan = await crud.patch(db, plan, changes, expected_version)
    if relinked:
        linked = (await referral_ids_of(db, [plan.id]))[plan.id]
    return plan, linked


# ---- goals -----------------------------------------------------------------------------------


def goal_problems(
    measure: str, measure_label: str | None, values: dict[str, float | None]
) -> list[dict[str, Any]]:
    """What is wrong with a goal's measure, label and values (`baseline_value`,
    `target_value`), as validation errors; empty when nothing is."""
    errors: list[dict[str, Any]] = []
    if measure == Measure.custom and not measure_label:
        errors.append(
            {"loc": ["body", "measure_label"], "msg": "a custom measure needs a measure_label"}
        )
    for name, value in values.items():
        if value is None:
            continue
        problem = check_measure_value(measure, value)
        if problem is not None:
            errors.append({"loc": ["body", name], "msg": f"{name}: {problem}"})
    return errors


async def create_goal(db: AsyncSession, plan: CarePlan, data: GoalCreate) -> Goal:
    errors = goal_problems(
        data.measure,
        data.measure_label,
        {"baseline_value": data.baseline_value, "target_value": data.target_value},
    )
    if errors:
        raise ValidationFailed("The goal is not valid", errors)
    return await crud.create(db, Goal, data, care_plan_id=plan.id)


async def list_goals(
    db: AsyncSession, plan: CarePlan, page: PageParams, status: GoalStatus | None = None
) -> list[Goal]:
    conditions: list[ColumnElement[bool]] = [Goal.care_plan_id == plan.id]
    if status is not None:
        conditions.append(Goal.status == status.value)
    return await crud.list_page(db, Goal, page, *conditions)


async def get_goal(db: AsyncSession, goal_id: uuid.UUID) -> tuple[Goal, uuid.UUID]:
    """The goal and its client, unless the goal or its plan is archived."""
    row = (
        await db.execute(
            select(Goal, CarePlan.client_id)
            .join(CarePlan, CarePlan.id == Goal.care_plan_id)
            .where(
                Goal.id == goal_id,
                Goal.archived_at.is_(None),
                CarePlan.archived_at.is_(None),
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such goal")
    return row[0], row[1]


async def update_goal(
    db: AsyncSession, goal: Goal, patch: GoalUpdate, expected_version: int
) -> Goal:
    """The goal after the patch is checked as a whole, not only the fields sent."""
    check_version(goal.version, expected_version)
    changes = patch.changes()
    merged = {
        name: changes.get(name, getattr(goal, name))
        for name in ("measure", "measure_label", "baseline_value", "target_value")
    }
    errors = goal_problems(
        merged["measure"],
        merged["measure_label"],
        {"baseline_value": merged["baseline_value"], "target_value": merged["target_value"]},
    )
    if errors:
        raise ValidationFailed("The goal is not valid", errors)
    return await crud.patch(db, goal, changes, expected_version)
