"""Loading a session by path id for a caller allowed to see it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import allow
from app.core.pagination import IncludeArchived
from app.core.routing import DbSession
from app.core.security import Caller, Role
from app.session_records import service
from app.session_records.models import SessionRecord

StaffCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]
ClinicalCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist))]


async def session_for_staff(
    session_id: uuid.UUID, db: DbSession, _: StaffCaller, include_archived: IncludeArchived = False
) -> SessionRecord:
    return await service.get_session(db, session_id, include_archived=include_archived)


async def session_for_clinician(
    session_id: uuid.UUID, db: DbSession, _: ClinicalCaller
) -> SessionRecord:
    return await service.get_session(db, session_id)


SessionForStaff = Annotated[SessionRecord, Depends(session_for_staff)]
SessionForClinician = Annotated[SessionRecord, Depends(session_for_clinician)]
