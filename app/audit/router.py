"""`GET /v1/audit-events`: the audit trail, for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BeforeValidator

from app.audit import service
from app.audit.schemas import AuditEventRead
from app.audit.service import AuditAction, AuditFilters
from app.auth.dependencies import AdminCaller
from app.core.pagination import Page, PageOf, page_of, rfc3339_only
from app.core.responses import render
from app.core.routing import DbSession, TransactionalRoute

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["audit"])


@router.get("/audit-events", response_model=PageOf[AuditEventRead])
async def list_audit_events(
    db: DbSession,
    caller: AdminCaller,
    page: Page,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: AuditAction | None = None,
    from_: Annotated[
        AwareDatetime | None,
        BeforeValidator(rfc3339_only),
        Query(alias="from", description="Events at or after this instant"),
    ] = None,
    to: Annotated[
        AwareDatetime | None,
        BeforeValidator(rfc3339_only),
        Query(description="Events before this instant"),
    ] = None,
) -> Response:
    since = page.updated_since
    start = max(d for d in (from_, since) if d is not None) if (from_ or since) else None
    filters = AuditFilters(client_id, actor_id, action, start, to)
    events, cursor = page_of(await service.list_events(db, filters, page), page, at="at")
    body = PageOf[AuditEventRead](
        items=[AuditEventRead.model_validate(e) for e in events], next_cursor=cursor
    )
    return render(body, caller)
