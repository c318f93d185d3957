"""Loading care plans and goals by path id, authorizing the caller.

The clinic's staff read care plans (the front desk without their clinical fields); clinicians
write them. Goals are clinical through and through: clinicians only. Referrers see neither.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import allow
from app.care_plans import service
from app.care_plans.models import CarePlan, Goal
from app.core import crud
from app.core.pagination import IncludeArchived
from app.core.routing import DbSession
from app.core.security import Caller, Role

CarePlanReader = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]
Clinician = Annotated[Caller, Depends(allow(Role.admin, Role.therapist))]


async def care_plan_for_reader(
    care_plan_id: uuid.UUID,
    db: DbSession,
    _: CarePlanReader,
    include_archived: IncludeArchived = False,
) -> CarePlan:
    return await crud.get_or_404(
        db, CarePlan, care_plan_id, include_archived=include_archived, what="care plan"
    )


async def care_plan_for_clinician(care_plan_id: uuid.UUID, db: DbSession, _: Clinician) -> CarePlan:
    return await crud.get_or_404(db, CarePlan, care_plan_id, what="care plan")


@dataclass(frozen=True, slots=True)
class GoalOfClient:
    """A goal, and the client whose plan it belongs to (audit events name the client)."""

    goal: Goal
    client_id: uuid.UUID


async def goal_for_clinician(goal_id: uuid.UUID, db: DbSession, _: Clinician) -> GoalOfClient:
    goal, client_id = await service.get_goal(db, goal_id)
    return GoalOfClient(goal, client_id)


CarePlanForReader = Annotated[CarePlan, Depends(care_plan_for_reader)]
CarePlanForClinician = Annotated[CarePlan, Depends(care_plan_for_clinician)]
GoalForClinician = Annotated[GoalOfClient, Depends(goal_for_clinician)]
