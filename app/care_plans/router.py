"""`/v1/care-plans` and their goals."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.care_plans import service
from app.care_plans.dependencies import (
    CarePlanForClinician,
    CarePlanForReader,
    CarePlanReader,
    Clinician,
    GoalForClinician,
)
from app.care_plans.schemas import (
    CarePlanCreate,
    CarePlanRead,
    CarePlanStatus,
    CarePlanUpdate,
    GoalCreate,
    GoalRead,
    GoalStatus,
    GoalUpdate,
)
from app.care_plans.service import CarePlanFilters
from app.core import crud
from app.core.concurrency import ExpectedVersion
from app.core.errors import problems
from app.core.pagination import IncludeArchived, Page, PageOf, page_of
from app.core.responses import no_content, render
from app.core.routing import DbSession, TransactionalRoute

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

CARE_PLAN = "care_plan"
GOAL = "goal"


# ---- care plans ------------------------------------------------------------------------------


@router.post(
    "/care-plans",
    response_model=CarePlanRead,
    status_code=201,
    tags=["care plans"],
    responses=problems(),
)
async def create_care_plan(data: CarePlanCreate, db: DbSession, caller: Clinician) -> Response:
    plan = await service.create_care_plan(db, data)
    audit.record(db, actor(caller), AuditAction.create, CARE_PLAN, plan.id, plan.client_id)
    linked = (await service.referral_ids_of(db, [plan.id]))[plan.id]
    return render(
        CarePlanRead.of(plan, linked),
        caller,
        status_code=201,
        version=plan.version,
        headers={"Location": f"/v1/care-plans/{plan.id}"},
    )


@router.get(
    "/care-plans",
    response_model=PageOf[CarePlanRead],
    tags=["care plans"],
    responses=problems(),
)
async def list_care_plans(
    db: DbSession,
    caller: CarePlanReader,
    page: Page,
    client_id: Annotated[uuid.UUID | None, Query(description="Plans of this client")] = None,
    status: Annotated[CarePlanStatus | None, Query(description="Only this status")] = None,
    primary_therapist_id: Annotated[
        uuid.UUID | None, Query(description="Plans led by this therapist")
    ] = None,
    include_archived: IncludeArchived = False,
) -> Response:
    filters = CarePlanFilters(client_id, status, primary_therapist_id, include_archived)
    plans, cursor = page_of(await service.list_care_plans(db, filters, page), page)
    links = await service.referral_ids_of(db, [p.id for p in plans])
    await audit.record_each(
        db, actor(caller), AuditAction.read, CARE_PLAN, ((p.id, p.client_id) for p in plans)
    )
    body = PageOf[CarePlanRead](
        items=[CarePlanRead.of(p, links[p.id]) for p in plans], next_cursor=cursor
    )
    return render(body, caller)


@router.get(
    "/care-plans/{care_plan_id}",
    response_model=CarePlanRead,
    tags=["care plans"],
    responses=problems(),
)
async def get_care_plan(plan: CarePlanForReader, db: DbSession, caller: CarePlanReader) -> Response:
    linked = (await service.referral_ids_of(db, [plan.id]))[plan.id]
    audit.record(db, actor(caller), AuditAction.read, CARE_PLAN, plan.id, plan.client_id)
    return render(CarePlanRead.of(plan, linked), caller, version=plan.version)


@router.patch(
    "/care-plans/{care_plan_id}",
    response_model=CarePlanRead,
    tags=["care plans"],
    responses=problems(409, 412, 428),
)
async def update_care_plan(
    plan: CarePlanForClinician,
    patch: CarePlanUpdate,
    db: DbSession,
    caller: Clinician,
    expected: ExpectedVersion,
) -> Response:
    plan, linked = await service.update_care_plan(db, plan, patch, expected)
    audit.record(db, actor(caller), AuditAction.update, CARE_PLAN, plan.id, plan.client_id)
    return render(CarePlanRead.of(plan, linked), caller, version=plan.version)


@router.delete(
    "/care-plans/{care_plan_id}",
    status_code=204,
    tags=["care plans"],
    responses=problems(),
    summary="Archive a care plan (soft delete: the plan and its goals are kept)",
)
async def archive_care_plan(
    plan: CarePlanForClinician, db: DbSession, caller: Clinician
) -> Response:
    await crud.archive(db, plan)
    audit.record(db, actor(caller), AuditAction.delete, CARE_PLAN, plan.id, plan.client_id)
    return no_content()


# ---- goals -----------------------------------------------------------------------------------


@router.get(
    "/care-plans/{care_plan_id}/goals",
    response_model=PageOf[GoalRead],
    tags=["goals"],
    responses=problems(),
)
async def list_goals(
    plan: CarePlanForClinician,
    db: DbSession,
    caller: Clinician,
    page: Page,
    status: Annotated[GoalStatus | None, Query(description="Only this status")] = None,
) -> Response:
    goals, cursor = page_of(await service.list_goals(db, plan, page, status), page)
    await audit.record_each(
        db, actor(caller), AuditAction.read, GOAL, ((g.id, plan.client_id) for g in goals)
    )
    body = PageOf[GoalRead](items=[GoalRead.model_validate(g) for g in goals], next_cursor=cursor)
    return render(body, caller)


@router.post(
    "/care-plans/{care_plan_id}/goals",
    response_model=GoalRead,
    status_code=201,
    tags=["goals"],
    responses=problems(),
)
async def add_goal(
    plan: CarePlanForClinician, data: GoalCreate, db: DbSession, caller: Clinician
) -> Response:
    goal = await service.create_goal(db, plan, data)
    audit.record(db, actor(caller), AuditAction.create, GOAL, goal.id, plan.client_id)
    return render(
        GoalRead.model_validate(goal),
        caller,
        status_code=201,
        version=goal.version,
        headers={"Location": f"/v1/goals/{goal.id}"},
    )


@router.get("/goals/{goal_id}", response_model=GoalRead, tags=["goals"], responses=problems())
async def get_goal(loaded: GoalForClinician, db: DbSession, caller: Clinician) -> Response:
    goal = loaded.goal
    audit.record(db, actor(caller), AuditAction.read, GOAL, goal.id, loaded.client_id)
    return render(GoalRead.model_validate(goal), caller, version=goal.version)


@router.patch(
    "/goals/{goal_id}",
    response_model=GoalRead,
    tags=["goals"],
    responses=problems(412, 428),
)
async def update_goal(
    loaded: GoalForClinician,
    patch: GoalUpdate,
    db: DbSession,
    caller: Clinician,
    expected: ExpectedVersion,
) -> Response:
    goal = await service.update_goal(db, loaded.goal, patch, expected)
    audit.record(db, actor(caller), AuditAction.update, GOAL, goal.id, loaded.client_id)
    return render(GoalRead.model_validate(goal), caller, version=goal.version)
