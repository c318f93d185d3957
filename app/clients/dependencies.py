"""Loading clients and their precautions and consents by path id, authorizing the caller."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import allow
from app.clients.models import Client, Consent, Precaution
from app.core import crud
from app.core.errors import NotFound
from app.core.pagination import IncludeArchived
from app.core.routing import DbSession
from app.core.security import Caller, Role

# every member of the clinic's staff works with clients; referrers reach them only through
# their referrals' summaries
StaffCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]
ClinicalCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist))]


async def client_for_staff(
    client_id: uuid.UUID, db: DbSession, _: StaffCaller, include_archived: IncludeArchived = False
) -> Client:
    return await crud.get_or_404(db, Client, client_id, include_archived=include_archived)


async def client_for_clinician(client_id: uuid.UUID, db: DbSession, _: ClinicalCaller) -> Client:
    return await crud.get_or_404(db, Client, client_id)


async def _of_current_client(
    db: AsyncSession, model: type[Precaution] | type[Consent], row_id: uuid.UUID, what: str
) -> Any:
    """A row of a client that is not archived: an archived client's record is reached only
    through its export."""
    row = await db.scalar(
        select(model)
        .join(Client, Client.id == model.client_id)
        .where(model.id == row_id, Client.archived_at.is_(None))
    )
    if row is None:
        raise NotFound(f"No such {what}")
    return row


async def precaution_for_staff(
    precaution_id: uuid.UUID, db: DbSession, _: StaffCaller
) -> Precaution:
    precaution: Precaution = await _of_current_client(db, Precaution, precaution_id, "precaution")
    return precaution


async def precaution_for_clinician(
    precaution_id: uuid.UUID, db: DbSession, _: ClinicalCaller
) -> Precaution:
    precaution: Precaution = await _of_current_client(db, Precaution, precaution_id, "precaution")
    return precaution


async def consent_for_staff(consent_id: uuid.UUID, db: DbSession, _: StaffCaller) -> Consent:
    consent: Consent = await _of_current_client(db, Consent, consent_id, "consent")
    return consent


ClientForStaff = Annotated[Client, Depends(client_for_staff)]
ClientForClinician = Annotated[Client, Depends(client_for_clinician)]
PrecautionForStaff = Annotated[Precaution, Depends(precaution_for_staff)]
PrecautionForClinician = Annotated[Precaution, Depends(precaution_for_clinician)]
ConsentForStaff = Annotated[Consent, Depends(consent_for_staff)]
