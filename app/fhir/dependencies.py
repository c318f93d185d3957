"""Who may read what on the FHIR facade, decided here once, and the loading of path resources.

* `admin` and `therapist` read everything.
* `front_desk` reads Patient and Practitioner (demographics and the directories) and nothing
  clinical: every other resource type, and every search, is 403.
* `referrer` reads the clinical record of a client it referred (one of its own referrals)
  who holds an active `share_with_referrer` consent naming it; of ServiceRequests only its own
  referrals; of Practitioners only itself. Anything else answers 404, as if it did not exist.

The CapabilityStatement (`/metadata`) needs a valid bearer token too, of any role: the contract
puts every `/fhir` path behind authentication.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query

from app.auth.dependencies import allow
from app.clients.models import Client
from app.core.db import utcnow
from app.core.errors import Forbidden, Hidden, NotFound, ValidationFailed
from app.core.pagination import PageParams, decode_cursor
from app.core.routing import DbSession
from app.core.security import Caller, Role
from app.directory.models import ReferringProfessional, Therapist
from app.fhir import service
from app.fhir.mapping import CarePlanSource, GoalSource, ObservationSource
from app.referrals.models import Referral
from app.session_records.models import SessionRecord

MAX_COUNT = 200
DEFAULT_COUNT = 50

AnyFhirCaller = Annotated[
    Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk, Role.referrer))
]
ClinicalFhirCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.referrer))]
ResourceId = Annotated[str, Path(description="The resource's logical id (a UUID)")]


def _row_id(resource_id: str, resource_type: str) -> uuid.UUID:
    """A FHIR id that is not one of our UUIDs names nothing: 404, not a validation error."""
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        raise NotFound(f"No such {resource_type}") from None


def _referrer_id(caller: Caller) -> uuid.UUID | None:
    """The referring professional a referrer acts as; None for the clinic's staff."""
    if caller.role is not Role.referrer:
        return None
    if caller.referring_professional_id is None:
        raise Forbidden("This referrer is not linked to a referring professional")
    return caller.referring_professional_id


async def may_see_client(db: DbSession, caller: Caller, client_id: uuid.UUID) -> bool:
    referrer = _referrer_id(caller)
    if referrer is None:
        return True
    return await service.shared_with_referrer(db, client_id, referrer, utcnow().date())


async def _require_client(
    db: DbSession, caller: Caller, client_id: uuid.UUID, resource_type: str
) -> None:
    if not await may_see_client(db, caller, client_id):
        raise Hidden(f"No such {resource_type}")


# ---- path resources ----------------------------------------------------------------------------


async def patient_for_caller(
    resource_id: ResourceId, db: DbSession, caller: AnyFhirCaller
) -> Client:
    client = await service.get_client(db, _row_id(resource_id, "Patient"))
    if client is None:
        raise NotFound("No such Patient")
    await _require_client(db, caller, client.id, "Patient")
    return client


async def practitioner_for_caller(
    resource_id: ResourceId, db: DbSession, caller: AnyFhirCaller
) -> Therapist | ReferringProfessional:
    row_id = _row_id(resource_id, "Practitioner")
    referrer = _referrer_id(caller)
    if referrer is not None and row_id != referrer:
        raise Hidden("No such Practitioner")
    row = await service.get_practitioner(db, row_id)
    if row is None:
        raise NotFound("No such Practitioner")
    return row


async def service_request_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> Referral:
    referral = await service.get_referral(db, _row_id(resource_id, "ServiceRequest"))
    if referral is None:
        raise NotFound("No such ServiceRequest")
    referrer = _referrer_id(caller)
    if referrer is not None and referral.referring_professional_id != referrer:
        raise Hidden("No such ServiceRequest")
    if referral.client_id is None:  # no Patient to be the subject until the clinic links one
        raise NotFound("No such ServiceRequest")
    if referrer is not None and referral.status not in ("accepted", "completed"):
        raise Hidden("No such ServiceRequest")  # open to its referrer once the clinic accepts
    await _require_client(db, caller, referral.client_id, "ServiceRequest")
    return referral


async def care_plan_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> CarePlanSource:
    source = await service.get_care_plan(db, _row_id(resource_id, "CarePlan"))
    if source is None:
        raise NotFound("No such CarePlan")
    await _require_client(db, caller, source.plan.client_id, "CarePlan")
    return source


async def goal_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> GoalSource:
    source = await service.get_goal(db, _row_id(resource_id, "Goal"))
    if source is None:
        raise NotFound("No such Goal")
    await _require_client(db, caller, source.client_id, "Goal")
    return source


async def encounter_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> SessionRecord:
    session = await service.get_session(db, _row_id(resource_id, "Encounter"))
    if session is None:
        raise NotFound("No such Encounter")
    await _require_client(db, caller, session.client_id, "Encounter")
    return session


async def observation_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> ObservationSource:
    source = await service.get_measurement(db, _row_id(resource_id, "Observation"))
    if source is None:
        raise NotFound("No such Observation")
    await _require_client(db, caller, source.measurement.client_id, "Observation")
    return source


PatientForCaller = Annotated[Client, Depends(patient_for_caller)]
PractitionerForCaller = Annotated[
    Therapist | ReferringProfessional, Depends(practitioner_for_caller)
]
ServiceRequestForCaller = Annotated[Referral, Depends(service_request_for_caller)]
CarePlanForCaller = Annotated[CarePlanSource, Depends(care_plan_for_caller)]
GoalForCaller = Annotated[GoalSource, Depends(goal_for_caller)]
EncounterForCaller = Annotated[SessionRecord, Depends(encounter_for_caller)]
ObservationForCaller = Annotated[ObservationSource, Depends(observation_for_caller)]


# ---- searches ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """A search by patient, as asked for, with the page to return. `client_id` is None for an
    id no client can have; `visible` is False for a patient the caller may not see, whose
    search matches nothing, as if the patient did not exist."""

    client_id: uuid.UUID | None
    visible: bool
    patient: str
    count: int
    cursor: str | None
    page: PageParams


def parse_patient(value: str) -> uuid.UUID | None:
    """`Patient/<id>` or a bare `<id>` → the client id; None for an id no client can have.
    A reference to another resource type is a validation error."""
    resource_type, _, rest = value.rpartition("/")
    if resource_type and resource_type.rsplit("/", 1)[-1] != "Patient":
        raise ValidationFailed.field(
            ["query", "patient"], "expected Patient/<id> or the patient's id"
        )
    try:
        return uuid.UUID(rest)
    except ValueError:
        return None


async def patient_search(
    db: DbSession,
    caller: ClinicalFhirCaller,
    patient: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="The patient whose resources to find: `Patient/<id>` or the bare id",
        ),
    ],
    count: Annotated[
        int | None,
        Query(
            alias="_count",
            ge=0,
            description=f"Page size, default {DEFAULT_COUNT}; above {MAX_COUNT} it is "
            f"{MAX_COUNT}; 0 returns only the total",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(alias="_cursor", max_length=200, description="From the Bundle's `next` link"),
    ] = None,
) -> PatientSearch:
    client_id = parse_patient(patient)
    size = DEFAULT_COUNT if count is None else min(count, MAX_COUNT)
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except ValidationFailed:
            raise ValidationFailed.field(
                ["query", "_cursor"], "not a cursor from a next link of this server"
            ) from None
    page = PageParams(limit=size, after=after, updated_since=None)
    visible = client_id is None or await may_see_client(db, caller, client_id)
    return PatientSearch(client_id, visible, patient, size, cursor, page)


PatientSearchDep = Annotated[PatientSearch, Depends(patient_search)]
