"""`GET /v1/export`: the clinic's data as NDJSON, streamed (admin)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import StreamingResponse

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import AdminCaller, actor
from app.core.errors import ValidationFailed, problems
from app.core.fields import SingleLine, Timestamp
from app.core.routing import DbSession, TransactionalRoute
from app.export import service
from app.export.service import ExportedResource

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["export"])

NDJSON = "application/x-ndjson"


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {}},
            "description": 'One line a row: `{"resource_type": "client", "data": {…}}`',
        },
        **problems(),
    },
    summary="Export every row of the chosen resource types as NDJSON (archived rows included)",
)
async def export(
    request: Request,
    db: DbSession,
    caller: AdminCaller,
    resources: Annotated[
        Annotated[str, SingleLine] | None,
        Query(
            max_length=500,
            description="Comma-separated: " + ", ".join(service.RESOURCES) + " (default: all)",
        ),
    ] = None,
    since: Annotated[
        Timestamp | None, Query(description="Only rows changed at or after this instant")
    ] = None,
) -> StreamingResponse:
    try:
        chosen = service.parse_resources(resources)
    except ValueError as error:
        raise ValidationFailed.field(["query", "resources"], str(error)) from error
    # committed with the request, before the first line leaves
    audit.record(db, actor(caller), AuditAction.export, "export")
    # the rows stream after the request's transaction has ended: on a session of their own
    lines = _stream(request.app.state.sessionmaker, chosen, since)
    return StreamingResponse(lines, media_type=NDJSON, headers={"Cache-Control": "no-store"})


async def _stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    chosen: list[ExportedResource],
    since: dt.datetime | None,
) -> AsyncIterator[bytes]:
    async with sessionmaker() as session:
        for resource in chosen:
            async for chunk in service.export_lines(session, resource, since):
                yield chunk
