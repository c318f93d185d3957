"""`/v1/referrals`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.core import crud
from app.core.concurrency import ExpectedVersion
from app.core.errors import problems
from app.core.pagination import IncludeArchived, Page, PageOf, page_of
from app.core.responses import no_content, refuse_clinical_writes, render
from app.core.routing import DbSession, TransactionalRoute
from app.referrals import service
from app.referrals.dependencies import (
    ReferralEditor,
    ReferralForEditor,
    ReferralForReader,
    ReferralReader,
    own_referring_professional,
)
from app.referrals.schemas import ReferralCreate, ReferralRead, ReferralStatus, ReferralUpdate
from app.referrals.service import ReferralFilters

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

REFERRAL = "referral"


@router.post(
    "/referrals",
    response_model=ReferralRead,
    status_code=201,
    tags=["referrals"],
    responses=problems(),
    summary="Record a referral (a referrer's are always its own, and start pending)",
)
async def create_referral(data: ReferralCreate, db: DbSession, caller: ReferralReader) -> Response:
    refuse_clinical_writes(caller, data.model_fields_set, ReferralRead)
    referral = await service.create_referral(
        db, data, referrer_id=own_referring_professional(caller)
    )
    audit.record(db, actor(caller), AuditAction.create, REFERRAL, referral.id, referral.client_id)
    return render(
        ReferralRead.model_validate(referral),
        caller,
        status_code=201,
        version=referral.version,
        headers={"Location": f"/v1/referrals/{referral.id}"},
    )


@router.get(
    "/referrals",
    response_model=PageOf[ReferralRead],
    tags=["referrals"],
    responses=problems(),
    summary="List referrals (a referrer sees only its own)",
)
async def list_referrals(
    db: DbSession,
    caller: ReferralReader,
    page: Page,
    client_id: Annotated[uuid.UUID | None, Query(description="Referrals of this client")] = None,
    referring_professional_id: Annotated[
        uuid.UUID | None,
        Query(description="Referrals from this professional (a referrer's own, always)"),
    ] = None,
    status: Annotated[ReferralStatus | None, Query(description="Only this status")] = None,
    include_archived: IncludeArchived = False,
) -> Response:
    own = own_referring_professional(caller)
    filters = ReferralFilters(
        client_id=client_id,
        referring_professional_id=own or referring_professional_id,
        status=status,
        include_archived=include_archived,
    )
    rows, cursor = page_of(await service.list_referrals(db, filters, page), page)
    await audit.record_each(
        db, actor(caller), AuditAction.read, REFERRAL, ((r.id, r.client_id) for r in rows)
    )
    body = PageOf[ReferralRead](
        items=[ReferralRead.model_validate(r) for r in rows], next_cursor=cursor
    )
    return render(body, caller)


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralRead,
    tags=["referrals"],
    responses=problems(),
)
async def get_referral(
    referral: ReferralForReader, db: DbSession, caller: ReferralReader
) -> Response:
    audit.record(db, actor(caller), AuditAction.read, REFERRAL, referral.id, referral.client_id)
    return render(ReferralRead.model_validate(referral), caller, version=referral.version)


@router.patch(
    "/referrals/{referral_id}",
    response_model=ReferralRead,
    tags=["referrals"],
    responses=problems(409, 412, 428),
)
async def update_referral(
    referral: ReferralForEditor,
    patch: ReferralUpdate,
    db: DbSession,
    caller: ReferralEditor,
    expected: ExpectedVersion,
) -> Response:
    refuse_clinical_writes(caller, patch.model_fields_set, ReferralRead)
    referral = await service.update_referral(db, referral, patch, expected)
    audit.record(db, actor(caller), AuditAction.update, REFERRAL, referral.id, referral.client_id)
    return render(ReferralRead.model_validate(referral), caller, version=referral.version)


@router.delete(
    "/referrals/{referral_id}",
    status_code=204,
    tags=["referrals"],
    responses=problems(),
    summary="Archive a referral (soft delete: the record is kept)",
)
async def archive_referral(
    referral: ReferralForEditor, db: DbSession, caller: ReferralEditor
) -> Response:
    await crud.archive(db, referral)
    audit.record(db, actor(caller), AuditAction.delete, REFERRAL, referral.id, referral.client_id)
    return no_content()
