"""`/v1/sessions`: booking, the clinical note, signing and addenda."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.core.concurrency import ExpectedVersion
from app.core.errors import ValidationFailed, problems
from app.core.pagination import IncludeArchived, Page, PageOf, QueryTimestamp, page_of
from app.core.responses import no_content, render
from app.core.routing import DbSession, TransactionalRoute
from app.session_records import service
from app.session_records.dependencies import (
    ClinicalCaller,
    SessionForClinician,
    SessionForStaff,
    StaffCaller,
)
from app.session_records.schemas import (
    AddendumCreate,
    AddendumRead,
    SessionCreate,
    SessionRead,
    SessionStatus,
    SessionUpdate,
)
from app.session_records.service import SessionFilters

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["sessions"])

SESSION = "session"


@router.post(
    "/sessions",
    response_model=SessionRead,
    status_code=201,
    responses=problems(409),
    summary="Book (or record) a session; screened against the client's precautions",
)
async def create_session(data: SessionCreate, db: DbSession, caller: StaffCaller) -> Response:
    session = await service.create_session(db, data, caller)
    audit.record(db, actor(caller), AuditAction.create, SESSION, session.id, session.client_id)
    return render(
        SessionRead.of(session),
        caller,
        status_code=201,
        version=session.version,
        headers={"Location": f"/v1/sessions/{session.id}"},
    )


@router.get("/sessions", response_model=PageOf[SessionRead], responses=problems())
async def list_sessions(
    db: DbSession,
    caller: StaffCaller,
    page: Page,
    client_id: uuid.UUID | None = None,
    care_plan_id: uuid.UUID | None = None,
    therapist_id: uuid.UUID | None = None,
    status: SessionStatus | None = None,
    from_: Annotated[
        QueryTimestamp | None, Query(alias="from", description="scheduled_start at or after")
    ] = None,
    to: Annotated[QueryTimestamp | None, Query(description="scheduled_start before")] = None,
    include_archived: IncludeArchived = False,
) -> Response:
    for name, value in (("from", from_), ("to", to)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed.field(["query", name], "timestamps need a zone, e.g. Z")
    filters = SessionFilters(
        client_id,
        care_plan_id,
        therapist_id,
        status.value if status else None,
        from_,
        to,
        include_archived,
    )
    sessions, cursor = page_of(await service.list_sessions(db, filters, page), page)
    await audit.record_each(
        db, actor(caller), AuditAction.read, SESSION, ((s.id, s.client_id) for s in sessions)
    )
    body = PageOf[SessionRead](items=[SessionRead.of(s) for s in sessions], next_cursor=cursor)
    return render(body, caller)


@router.get("/sessions/{session_id}", response_model=SessionRead, responses=problems())
async def get_session(session: SessionForStaff, db: DbSession, caller: StaffCaller) -> Response:
    audit.record(db, actor(caller), AuditAction.read, SESSION, session.id, session.client_id)
    return render(SessionRead.of(session), caller, version=session.version)


@router.patch(
    "/sessions/{session_id}", response_model=SessionRead, responses=problems(409, 412, 428)
)
async def update_session(
    session: SessionForStaff,
    patch: SessionUpdate,
    db: DbSession,
    caller: StaffCaller,
    expected: ExpectedVersion,
) -> Response:
    session = await service.update_session(db, session, patch, expected, caller)
    audit.record(db, actor(caller), AuditAction.update, SESSION, session.id, session.client_id)
    return render(SessionRead.of(session), caller, version=session.version)


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    responses=problems(409),
    summary="Archive a session (soft delete); a signed note cannot be archived",
)
async def archive_session(session: SessionForStaff, db: DbSession, caller: StaffCaller) -> Response:
    await service.archive_session(db, session)
    audit.record(db, actor(caller), AuditAction.delete, SESSION, session.id, session.client_id)
    return no_content()


@router.post(
    "/sessions/{session_id}/sign",
    response_model=SessionRead,
    responses=problems(409),
    summary="Sign a completed session's note (its own therapist, or an admin)",
)
async def sign_session(
    session: SessionForClinician, db: DbSession, caller: ClinicalCaller
) -> Response:
    session = await service.sign_session(db, session, caller)
    audit.record(db, actor(caller), AuditAction.sign, SESSION, session.id, session.client_id)
    return render(SessionRead.of(session), caller, version=session.version)


@router.post(
    "/sessions/{session_id}/addenda",
    response_model=AddendumRead,
    status_code=201,
    responses=problems(),
    summary="Append a correction to a session's note",
)
async def add_addendum(
    session: SessionForClinician, data: AddendumCreate, db: DbSession, caller: ClinicalCaller
) -> Response:
    addendum = await service.add_addendum(db, session, data, caller)
    audit.record(db, actor(caller), AuditAction.update, SESSION, session.id, session.client_id)
    return render(AddendumRead.of(addendum), caller, status_code=201)
