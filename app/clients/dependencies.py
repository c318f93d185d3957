"""Loading clients and their precautions and consents by path id, authorizing the caller."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import allow
from app.clients.models import Client, Consent, Precaution
from app.core import crud
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


async def precaution_for_staff(
    precaution_id: uuid.UUID, db: DbSession, _: StaffCaller
) -> Precaution:
    return await crud.get_or_404(db, Precaution, precaution_id)


async def precaution_for_clinician(
    precaution_id: uuid.UUID, db: DbSession, _: ClinicalCaller
) -> Precaution:
    return await crud.get_or_404(db, Precaution, precaution_id)


async def consent_for_staff(consent_id: uuid.UUID, db: DbSession, _: StaffCaller) -> Consent:
    return await crud.get_or_404(db, Consent, consent_id)


ClientForStaff = Annotated[Client, Depends(client_for_staff)]
ClientForClinician = Annotated[Client, Depends(client_for_clinician)]
PrecautionForStaff = Annotated[Precaution, Depends(precaution_for_staff)]
PrecautionForClinician = Annotated[Precaution, Depends(precaution_for_clinician)]
ConsentForStaff = Annotated[Consent, Depends(consent_for_staff)]
