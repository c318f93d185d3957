"""`/v1/clients`, their precautions and consents."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.clients import export as client_export
from app.clients import service
from app.clients.dependencies import (
    ClientForClinician,
    ClientForStaff,
    ClinicalCaller,
    ConsentForStaff,
    PrecautionForClinician,
    PrecautionForStaff,
    StaffCaller,
)
from app.clients.export import ClientExport
from app.clients.models import Client
from app.clients.schemas import (
    Clearance,
    ClientCreate,
    ClientRead,
    ClientUpdate,
    ConsentCreate,
    ConsentRead,
    PrecautionCreate,
    PrecautionRead,
    PrecautionUpdate,
)
from app.clients.service import ClientFilters
from app.core import crud
from app.core.concurrency import ExpectedVersion
from app.core.errors import problems
from app.core.fields import SearchText
from app.core.pagination import IncludeArchived, Page, PageOf, page_of
from app.core.responses import no_content, render
from app.core.routing import DbSession, TransactionalRoute
from app.events import outbox

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

CLIENT = "client"
PRECAUTION = "precaution"
CONSENT = "consent"

ClientPage = PageOf[ClientRead]


# ---- clients ---------------------------------------------------------------------------------


@router.post(
    "/clients", response_model=ClientRead, status_code=201, tags=["clients"], responses=problems()
)
async def create_client(data: ClientCreate, db: DbSession, caller: StaffCaller) -> Response:
    # the hot write: Core statements for the row, its audit row and its event (no ORM)
    client = await service.create_client(db, data)
    client_id = client["id"]
    await audit.record_each(db, actor(caller), AuditAction.create, CLIENT, [(client_id, client_id)])
    body = ClientRead.model_validate(client)
    await outbox.emit(db, "client.created", CLIENT, client_id, body.model_dump(mode="json"))
    return render(
        body,
        caller,
        status_code=201,
        version=client["version"],
        headers={"Location": f"/v1/clients/{client_id}"},
    )


@router.get("/clients", response_model=PageOf[ClientRead], tags=["clients"], responses=problems())
async def list_clients(
    db: DbSession,
    caller: StaffCaller,
    page: Page,
    q: Annotated[SearchText | None, Query(description="Words of the given or family name")] = None,
    referring_professional_id: Annotated[
        uuid.UUID | None, Query(description="Clients referred by this professional")
    ] = None,
    include_archived: IncludeArchived = False,
) -> Response:
    filters = ClientFilters(q, referring_professional_id, include_archived)
    clients, cursor = page_of(await service.list_clients(db, filters, page), page)
    await audit.record_each(
        db, actor(caller), AuditAction.read, CLIENT, ((c["id"], c["id"]) for c in clients)
    )
    return render(ClientPage.model_validate({"items": clients, "next_cursor": cursor}), caller)


@router.get(
    "/clients/{client_id}", response_model=ClientRead, tags=["clients"], responses=problems()
)
async def get_client(
    client_id: uuid.UUID,
    db: DbSession,
    caller: StaffCaller,
    include_archived: IncludeArchived = False,
) -> Response:
    client = await service.read_client(db, client_id, include_archived=include_archived)
    audit.record(db, actor(caller), AuditAction.read, CLIENT, client_id, client_id)
    return render(ClientRead.model_validate(client), caller, version=client["version"])


@router.patch(
    "/clients/{client_id}",
    response_model=ClientRead,
    tags=["clients"],
    responses=problems(412, 428),
)
async def update_client(
    client_id: uuid.UUID,
    patch: ClientUpdate,
    db: DbSession,
    caller: StaffCaller,
    expected: ExpectedVersion,
) -> Response:
    client = await crud.patch(db, await crud.get_or_404(db, Client, client_id), patch, expected)
    audit.record(db, actor(caller), AuditAction.update, CLIENT, client.id, client.id)
    return render(ClientRead.model_validate(client), caller, version=client.version)


@router.delete(
    "/clients/{client_id}",
    status_code=204,
    tags=["clients"],
    responses=problems(),
    summary="Archive a client (soft delete: the record is kept)",
)
async def archive_client(client: ClientForStaff, db: DbSession, caller: StaffCaller) -> Response:
    await crud.archive(db, client)
    audit.record(db, actor(caller), AuditAction.delete, CLIENT, client.id, client.id)
    return no_content()


# ---- precautions -----------------------------------------------------------------------------


@router.get(
    "/clients/{client_id}/precautions",
    response_model=PageOf[PrecautionRead],
    tags=["precautions"],
    responses=problems(),
)
async def list_precautions(
    client: ClientForStaff, db: DbSession, caller: StaffCaller, page: Page
) -> Response:
    rows, cursor = page_of(await service.list_precautions(db, client, page), page)
    audit.record(db, actor(caller), AuditAction.read, PRECAUTION, None, client.id)
    body = PageOf[PrecautionRead](items=[PrecautionRead.of(p) for p in rows], next_cursor=cursor)
    return render(body, caller)


@router.post(
    "/clients/{client_id}/precautions",
    response_model=PrecautionRead,
    status_code=201,
    tags=["precautions"],
    responses=problems(),
)
async def add_precaution(
    client: ClientForClinician, data: PrecautionCreate, db: DbSession, caller: ClinicalCaller
) -> Response:
    precaution = await service.add_precaution(db, client, data)
    audit.record(db, actor(caller), AuditAction.create, PRECAUTION, precaution.id, client.id)
    return render(
        PrecautionRead.of(precaution),
        caller,
        status_code=201,
        version=precaution.version,
        headers={"Location": f"/v1/precautions/{precaution.id}"},
    )


@router.get(
    "/precautions/{precaution_id}",
    response_model=PrecautionRead,
    tags=["precautions"],
    responses=problems(),
)
async def get_precaution(
    precaution: PrecautionForStaff, db: DbSession, caller: StaffCaller
) -> Response:
    audit.record(
        db, actor(caller), AuditAction.read, PRECAUTION, precaution.id, precaution.client_id
    )
    return render(PrecautionRead.of(precaution), caller, version=precaution.version)


@router.patch(
    "/precautions/{precaution_id}",
    response_model=PrecautionRead,
    tags=["precautions"],
    responses=problems(412, 428),
)
async def update_precaution(
    precaution: PrecautionForClinician,
    patch: PrecautionUpdate,
    db: DbSession,
    caller: ClinicalCaller,
    expected: ExpectedVersion,
) -> Response:
    precaution = await service.update_precaution(db, precaution, patch, expected)
    audit.record(
        db, actor(caller), AuditAction.update, PRECAUTION, precaution.id, precaution.client_id
    )
    return render(PrecautionRead.of(precaution), caller, version=precaution.version)


@router.post(
    "/precautions/{precaution_id}/clearance",
    response_model=PrecautionRead,
    tags=["precautions"],
    responses=problems(),
    summary="Record a referring professional's clearance to treat",
)
async def clear_precaution(
    precaution: PrecautionForClinician,
    clearance: Clearance,
    db: DbSession,
    caller: ClinicalCaller,
) -> Response:
    precaution = await service.clear_precaution(db, precaution, clearance)
    audit.record(
        db, actor(caller), AuditAction.update, PRECAUTION, precaution.id, precaution.client_id
    )
    return render(PrecautionRead.of(precaution), caller, version=precaution.version)


# ---- consents --------------------------------------------------------------------------------


@router.get(
    "/clients/{client_id}/consents",
    response_model=PageOf[ConsentRead],
    tags=["consents"],
    responses=problems(),
)
async def list_consents(
    client: ClientForStaff, db: DbSession, caller: StaffCaller, page: Page
) -> Response:
    rows, cursor = page_of(await service.list_consents(db, client, page), page)
    audit.record(db, actor(caller), AuditAction.read, CONSENT, None, client.id)
    today = service.today()
    body = PageOf[ConsentRead](items=[ConsentRead.of(c, today) for c in rows], next_cursor=cursor)
    return render(body, caller)


@router.post(
    "/clients/{client_id}/consents",
    response_model=ConsentRead,
    status_code=201,
    tags=["consents"],
    responses=problems(),
)
async def add_consent(
    client: ClientForStaff, data: ConsentCreate, db: DbSession, caller: StaffCaller
) -> Response:
    consent = await service.add_consent(db, client, data)
    audit.record(db, actor(caller), AuditAction.create, CONSENT, consent.id, client.id)
    return render(
        ConsentRead.of(consent, service.today()),
        caller,
        status_code=201,
        version=consent.version,
        headers={"Location": f"/v1/consents/{consent.id}"},
    )


@router.get(
    "/consents/{consent_id}", response_model=ConsentRead, tags=["consents"], responses=problems()
)
async def get_consent(consent: ConsentForStaff, db: DbSession, caller: StaffCaller) -> Response:
    audit.record(db, actor(caller), AuditAction.read, CONSENT, consent.id, consent.client_id)
    return render(ConsentRead.of(consent, service.today()), caller, version=consent.version)


@router.post(
    "/consents/{consent_id}/revoke",
    response_model=ConsentRead,
    tags=["consents"],
    responses=problems(),
    summary="Revoke a consent, with immediate effect",
)
async def revoke_consent(consent: ConsentForStaff, db: DbSession, caller: StaffCaller) -> Response:
    consent = await service.revoke_consent(db, consent)
    audit.record(db, actor(caller), AuditAction.update, CONSENT, consent.id, consent.client_id)
    return render(ConsentRead.of(consent, service.today()), caller, version=consent.version)


# ---- the right of access ---------------------------------------------------------------------


@router.get(
    "/clients/{client_id}/export",
    response_model=ClientExport,
    tags=["clients"],
    responses=problems(),
    summary="The client's whole record as one JSON document",
)
async def export_client(client_id: uuid.UUID, db: DbSession, caller: ClinicalCaller) -> Response:
    client = await crud.get_or_404(db, Client, client_id, include_archived=True)
    document = await client_export.export_client(db, client)
    audit.record(db, actor(caller), AuditAction.export, CLIENT, client.id, client.id)
    return render(document, caller)
